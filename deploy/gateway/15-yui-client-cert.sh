#!/bin/sh
# Client-certificate hook for the official nginx image (runs from /docker-entrypoint.d/ before the
# templates are rendered): with YUI_GATEWAY_CLIENT_CA_FILE set, ask clients for a certificate issued by
# that CA (optional: requests without one still pass, marked X-Client-Verify: NONE); otherwise ask nothing.
# With YUI_GATEWAY_CLIENT_CRL_FILE set as well, check identity's revocation list (ssl_crl) and start a
# watcher that reloads nginx (graceful, no restart) whenever identity's worker replaces that file on the
# shared volume. Same verify.conf as deploy/gateway/render.py writes for `make run`.
set -eu
dir="${YUI_GATEWAY_INCLUDE_DIR:-/etc/nginx/yui}/client-cert"
mkdir -p "$dir"
if [ -n "${YUI_GATEWAY_CLIENT_CA_FILE:-}" ]; then
    printf 'ssl_verify_client optional;\nssl_client_certificate %s;\nssl_verify_depth %s;\n' \
        "$YUI_GATEWAY_CLIENT_CA_FILE" "${YUI_GATEWAY_CLIENT_VERIFY_DEPTH:-2}" > "$dir/verify.conf"
    echo "$0: client certificates verified against $YUI_GATEWAY_CLIENT_CA_FILE"
    crl="${YUI_GATEWAY_CLIENT_CRL_FILE:-}"
    if [ -n "$crl" ]; then
        # nginx refuses to start without the file: wait for identity's first publication.
        while [ ! -s "$crl" ]; do echo "$0: waiting for $crl"; sleep 2; done
        # No session resumption: a resumed TLS session is not checked against a newer CRL.
        printf 'ssl_crl %s;\nssl_session_cache off;\n' "$crl" >> "$dir/verify.conf"
        (
            last="$(cksum < "$crl")"
            while sleep "${YUI_GATEWAY_CRL_POLL_SECONDS:-2}"; do
                now="$(cksum < "$crl" 2>/dev/null || true)"
                if [ -n "$now" ] && [ "$now" != "$last" ]; then
                    last="$now"
                    nginx -s reload && echo "$0: CRL changed; nginx reloaded"
                fi
            done
        ) &
    fi
else
    rm -f "$dir/verify.conf"
fi

# The peer port's CA bundle (federation, deploy/gateway/README.md "Peer deployments"): nginx refuses to start
# without the file, so wait for the federation worker's (or the sidecar's) first one, then reload whenever it
# changes (an agreement pinned or ended).
peers="${YUI_GATEWAY_PEER_CA_FILE:-/var/lib/yui/peer-ca/peers.pem}"
while [ ! -s "$peers" ]; do echo "$0: waiting for $peers"; sleep 2; done
(
    last="$(cksum < "$peers")"
    while sleep "${YUI_GATEWAY_CRL_POLL_SECONDS:-2}"; do
        now="$(cksum < "$peers" 2>/dev/null || true)"
        if [ -n "$now" ] && [ "$now" != "$last" ]; then
            last="$now"
            nginx -s reload && echo "$0: peer CAs changed; nginx reloaded"
        fi
    done
) &
