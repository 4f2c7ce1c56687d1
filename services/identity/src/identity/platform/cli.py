"""`python -m identity network create|list|show|suspend|resume` and `python -m identity contractor create`:
the contractor's console as a command line, for scripts and ops (ten1, ten3).

Each command is one transaction with an audit entry under the acting name (``--actor``, default
``contractor-cli``). Refusals print the problem (RFC 9457 JSON) on stderr and exit 1; bad usage exits 2.
``--json`` prints the result as JSON for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from yui_common.db import create_engine, create_sessionmaker
from yui_common.problems import TYPE_BASE, Problem
from yui_common.settings import CommonSettings

from identity.platform import service
from identity.platform.schemas import NetworkCreate, NetworkDetail, NetworkSummary

WITHDRAWAL_LABELS = {"stop": "支援中止 (stop)", "delete": "削除 (delete)"}
STATUS_LABELS = {"active": "運用中 (active)", "suspended": "停止中 (suspended)"}


def network_parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m identity network", description="The contractor's networks.")
    cli.add_argument("--actor", default="contractor-cli", help="who acts (recorded in the audit log)")
    cli.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = cli.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a network and its first operator")
    create.add_argument("--slug", required=True, help="a-z, 0-9 and -, e.g. koga")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--municipality",
        action="append",
        required=True,
        dest="municipality_codes",
        help="a six-digit local-government code with its check digit (repeat for each), e.g. 232360",
    )
    create.add_argument(
        "--operator-office", required=True, help="the operator's office, e.g. 古河市 福祉推進課"
    )
    create.add_argument("--operator-login-id", required=True)
    create.add_argument("--operator-name", required=True)
    create.add_argument("--operator-name-kana")
    create.add_argument("--support-hours", default="平日 9:00-17:00")
    create.add_argument("--retention-years", type=int, default=5)
    create.add_argument("--notice-months", type=int, default=3, dest="discontinuation_notice_months")
    create.add_argument(
        "--two-factor", choices=("totp_or_certificate", "certificate_only"), default="totp_or_certificate"
    )
    create.add_argument("--directory", choices=("all", "opt_in"), default="all", dest="directory_rule")
    create.add_argument("--attachment-mb", type=int, default=100, dest="max_attachment_mb")
    create.add_argument("--withdrawal-mode", choices=("stop", "delete"), default="stop")
    sub.add_parser("list", help="every network")
    show = sub.add_parser("show", help="one network")
    show.add_argument("slug")
    suspend = sub.add_parser("suspend", help="suspend a network: everything refuses, nothing is deleted")
    suspend.add_argument("slug")
    suspend.add_argument("--reason", required=True)
    resume = sub.add_parser("resume", help="resume a suspended network")
    resume.add_argument("slug")
    return cli


def contractor_parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m identity contractor", description="The contractor's accounts."
    )
    cli.add_argument("--actor", default="contractor-cli")
    cli.add_argument("--json", action="store_true")
    sub = cli.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="a contractor account; prints its one-time initial password")
    create.add_argument("--login-id", required=True)
    create.add_argument("--name", required=True)
    return cli


def _describe(network: NetworkSummary) -> list[str]:
    places = "、".join(m.label for m in network.municipalities)
    lines = [
        f"{network.name}  [{network.slug}]  {STATUS_LABELS.get(network.status, network.status)}",
        f"  市区町村: {places}",
    ]
    if isinstance(network, NetworkDetail):
        lines += [
            f"  運営事務局: {network.operator_office}   受付時間: {network.support_hours}",
            f"  保存年限: {network.retention_years} 年   終了の予告: {network.discontinuation_notice_months} か月前",
            f"  二要素認証: {network.two_factor_policy}   名簿掲載: {network.directory_rule}   "
            f"添付上限: {network.max_attachment_mb} MB   同意撤回: "
            f"{WITHDRAWAL_LABELS.get(network.withdrawal_mode, network.withdrawal_mode)}",
            f"  事業所 {network.facilities} / 利用者 {network.users}",
        ]
        if network.suspension_reason:
            lines.append(f"  停止理由: {network.suspension_reason}")
    return lines


def _print(args: argparse.Namespace, result: Any, lines: list[str]) -> None:
    if args.json:
        if isinstance(result, list):
            print(json.dumps([r.model_dump(mode="json") for r in result], ensure_ascii=False, indent=2))
        else:
            print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        print("\n".join(lines))


def _problem(problem: Problem) -> int:
    body = {"type": TYPE_BASE + problem.slug, "title": problem.title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    body.update(problem.extensions)
    print(json.dumps(body, ensure_ascii=False), file=sys.stderr)
    return 1


async def _in_transaction(
    settings: CommonSettings, work: Callable[[Any], Awaitable[BaseModel | list[Any]]]
) -> Any:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


async def run_network(settings: CommonSettings, argv: list[str]) -> int:
    args = network_parser().parse_args(argv)
    try:
        if args.command == "create":
            fields = {name: getattr(args, name) for name in NetworkCreate.model_fields if hasattr(args, name)}
            try:
                data = NetworkCreate.model_validate(fields)
            except ValidationError as exc:
                return _problem(Problem(422, "validation-error", "The request is not valid", str(exc)))
            created = await _in_transaction(
                settings, lambda s: service.create_network(s, actor=args.actor, data=data)
            )
            lines = [
                *_describe(created.network),
                f"最初の運営者: {created.operator_name} (ログインID {created.operator_login_id})",
                f"初期パスワード (一度だけ表示): {created.operator_initial_password}",
                "初回サインインでパスワードを変更し、二要素認証を登録します。",
            ]
            if created.operator_access_code:
                lines.append(
                    f"証明書アクセスコード: {created.operator_access_code}  PIN: {created.operator_access_code_pin}"
                )
            _print(args, created, lines)
        elif args.command == "list":
            found = await _in_transaction(settings, service.list_networks)
            _print(
                args, found, [line for n in found for line in _describe(n)] or ["(ネットワークはありません)"]
            )
        elif args.command == "show":
            shown = await _in_transaction(settings, lambda s: service.network_detail(s, args.slug))
            _print(args, shown, _describe(shown))
        elif args.command == "suspend":
            if not args.reason.strip():
                print("give --reason", file=sys.stderr)
                return 2
            changed = await _in_transaction(
                settings,
                lambda s: service.suspend_network(s, actor=args.actor, slug=args.slug, reason=args.reason),
            )
            _print(args, changed, _describe(changed))
        else:
            changed = await _in_transaction(
                settings, lambda s: service.resume_network(s, actor=args.actor, slug=args.slug)
            )
            _print(args, changed, _describe(changed))
    except Problem as problem:
        return _problem(problem)
    return 0


async def run_contractor(settings: CommonSettings, argv: list[str]) -> int:
    args = contractor_parser().parse_args(argv)
    try:
        created = await _in_transaction(
            settings,
            lambda s: service.create_contractor(
                s, login_id=args.login_id, display_name=args.name, actor=args.actor
            ),
        )
    except Problem as problem:
        return _problem(problem)
    _print(
        args,
        created,
        [
            f"契約事業者アカウント: {created.display_name} (ログインID {created.login_id})",
            f"初期パスワード (一度だけ表示): {created.initial_password}",
            "/admin/platform で初回サインインし、パスワードを変更して認証アプリを登録してください。",
        ],
    )
    return 0


def main(settings: CommonSettings, argv: list[str]) -> int:
    """argv starts with ``network`` or ``contractor``."""
    if argv[:1] == ["network"] and argv[1:2] and argv[1] in ("export", "end", "progress"):
        # Ending a network (issue 11, ten4) has its own commands: identity.network_end.cli.
        from identity.network_end import cli as network_end_cli

        return network_end_cli.main(settings, argv[1:])
    if argv[:1] == ["network"]:
        return asyncio.run(run_network(settings, argv[1:]))
    return asyncio.run(run_contractor(settings, argv[1:]))
