"""The second factor (等保 2.0 身份鉴别 d: two kinds of authentication for privileged users):
TOTP (RFC 6238, pyotp) enrolled by QR code, and single-use recovery codes stored hashed. Which
groups need it is the setting `identity.second_factor_groups`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit, config_store, procedure
from service.store.identity_models import Credential, RecoveryCode
from service.store.models import User

ISSUER = "GovFlow"
RECOVERY_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


LEADERS = "@leaders"  # in the setting: every group a procedure declares as its supervisors (the leaders)


def required_groups() -> frozenset[str]:
    """The groups of the setting; `@leaders` stands for the procedures' supervising groups, so the
    platform names no office's groups and a new procedure's leaders are covered at once."""
    raw = str(config_store.get("identity.second_factor_groups"))
    named = {part.strip() for part in raw.replace("，", ",").split(",") if part.strip()}
    if LEADERS in named:
        named.discard(LEADERS)
        for declared in procedure.registry():
            named |= declared.supervisors
    return frozenset(named)


def required_for(groups: list[str] | frozenset[str]) -> bool:
    return bool(required_groups() & set(groups))


def new_secret() -> str:
    return pyotp.random_base32()


def enrolment_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth:// address as an inline SVG (no script, no external image)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2))


def _steps(moment: datetime) -> list[int]:
    """This 30-second step and its neighbours (clocks of phones drift)."""
    step = int(moment.timestamp()) // 30
    return [step - 1, step, step + 1]


def matching_step(secret: str, code: str, moment: datetime, last_step: int | None) -> int | None:
    """The step `code` belongs to, if it is a valid code newer than the last one accepted."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    for step in _steps(moment):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, moment: datetime) -> str:
    """The code an authenticator app shows at `moment` (tests and the enrolment check)."""
    return pyotp.TOTP(secret).generate_otp(int(moment.timestamp()) // 30)


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").replace(" ", "").encode()).hexdigest()


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the user's recovery codes; the clear codes are returned once, only hashes kept."""
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_COUNT):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw)))
    return codes


def use_recovery_code(session: Session, user_id: int, code: str, now: datetime) -> bool:
    """Spend one unused recovery code; False if it is unknown or already used."""
    row = session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id,
                                                     RecoveryCode.code_hash == _digest(code),
                                                     RecoveryCode.used_at.is_(None))
                          .with_for_update()).first()
    if row is None:
        return False
    row.used_at = now
    user = session.get(User, user_id)
    audit.record(session, audit.SECOND_FACTOR, target=user.username if user else str(user_id),
                 detail=f"使用恢复码登录（剩余 {remaining_codes(session, user_id)} 个）", username=user.username if user else None)
    return True


def remaining_codes(session: Session, user_id: int) -> int:
    return len(list(session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user_id,
                                                                  RecoveryCode.used_at.is_(None)))))


def verify(session: Session, cred: Credential, code: str, now: datetime) -> bool:
    """A TOTP code (once per step) or a recovery code (once ever) of an enrolled user."""
    if cred.totp_secret and cred.totp_enabled_at is not None:
        step = matching_step(cred.totp_secret, code, now, cred.totp_last_step)
        if step is not None:
            cred.totp_last_step = step
            return True
    return cred.totp_enabled_at is not None and use_recovery_code(session, cred.user_id, code, now)
