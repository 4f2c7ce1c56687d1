"""people: name kana, profession (職種) from the free-text occupation, a person version; periodic password change

``users.occupation`` was free text; ``users.profession`` is one of yui_common.vocabulary.PROFESSIONS. Known
Japanese and English words are mapped, anything else becomes "other" (issue 10). ``person_version`` counts the
``identity.person-changed.v1`` events published per user. ``networks.password_max_age_days`` (30..365, or NULL
for none) makes an older password be changed at sign-in (I4). ``users.totp_pending_secret`` holds a signed-in
user's new authenticator until its first code confirms it.

Revision ID: people_professions
Revises: outbox_verbatim
Create Date: 2027-01-10 10:00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "people_professions"
down_revision: str | Sequence[str] | None = "outbox_verbatim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of identity.accounts.professions at the time of this revision (a migration must not change
# when the application's mapping later grows).
_WORDS: dict[str, tuple[str, ...]] = {
    "doctor": ("医師", "医者", "ドクター", "doctor", "physician", "dr", "md"),
    "dentist": ("歯科医師", "歯科医", "歯医者", "dentist"),
    "pharmacist": ("薬剤師", "pharmacist"),
    "visiting_nurse": ("訪問看護師", "訪問看護", "visiting nurse", "visiting_nurse", "home care nurse"),
    "nurse": ("看護師", "准看護師", "保健師", "助産師", "看護", "ナース", "nurse", "rn"),
    "therapist": (
        "理学療法士",
        "作業療法士",
        "言語聴覚士",
        "リハビリ",
        "pt",
        "ot",
        "st",
        "therapist",
        "physiotherapist",
        "physical therapist",
        "occupational therapist",
        "speech therapist",
    ),
    "care_manager": (
        "ケアマネジャー",
        "ケアマネージャー",
        "ケアマネ",
        "介護支援専門員",
        "care manager",
        "care_manager",
    ),
    "helper": (
        "ホームヘルパー",
        "ヘルパー",
        "訪問介護員",
        "介護福祉士",
        "介護職",
        "介護職員",
        "介護士",
        "helper",
        "home helper",
        "care worker",
        "caregiver",
    ),
    "msw": ("医療ソーシャルワーカー", "ソーシャルワーカー", "社会福祉士", "msw", "social worker"),
    "dietitian": ("管理栄養士", "栄養士", "dietitian", "nutritionist"),
    "municipal_staff": (
        "自治体職員",
        "市職員",
        "町職員",
        "村職員",
        "区職員",
        "行政",
        "municipal staff",
        "municipal_staff",
    ),
    "teacher": ("教員", "教師", "先生", "養護教諭", "teacher"),
}


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def _profession_of(occupation: str | None) -> str:
    if not occupation:
        return "other"
    key = _key(occupation)
    for code, words in _WORDS.items():
        if key in {_key(w) for w in words}:
            return code
    return "other"


def upgrade() -> None:
    op.add_column("users", sa.Column("name_kana", sa.String(200), nullable=True))
    op.add_column("users", sa.Column("profession", sa.String(32), server_default="other", nullable=False))
    op.add_column("users", sa.Column("person_version", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("totp_pending_secret", sa.String(64), nullable=True))
    op.add_column("networks", sa.Column("password_max_age_days", sa.Integer(), nullable=True))
    op.create_check_constraint(
        "password_max_age_days_range",
        "networks",
        "password_max_age_days IS NULL OR password_max_age_days BETWEEN 30 AND 365",
    )
    connection = op.get_bind()
    occupations = connection.execute(
        sa.text("SELECT DISTINCT occupation FROM users WHERE occupation IS NOT NULL")
    ).scalars()
    for occupation in list(occupations):
        profession = _profession_of(occupation)
        if profession != "other":
            connection.execute(
                sa.text("UPDATE users SET profession = :profession WHERE occupation = :occupation"),
                {"profession": profession, "occupation": occupation},
            )
    op.drop_column("users", "occupation")


def downgrade() -> None:
    op.add_column("users", sa.Column("occupation", sa.String(64), nullable=True))
    op.execute("UPDATE users SET occupation = profession WHERE profession <> 'other'")
    op.drop_constraint("password_max_age_days_range", "networks", type_="check")
    op.drop_column("networks", "password_max_age_days")
    op.drop_column("users", "totp_pending_secret")
    op.drop_column("users", "person_version")
    op.drop_column("users", "profession")
    op.drop_column("users", "name_kana")
