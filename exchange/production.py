"""Settings a node must not run with in production (``MPX_ENV=production``), and why.

Each default below keeps `make run` working with no configuration, and each would leak or give away something in a
real deployment. In production the node refuses to start, naming every such setting at once in Chinese and
English; in development it starts and warns about each. Nothing here repeats a setting's value.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from exchange.config import Settings

log = logging.getLogger(__name__)

#: Fewest characters of a secret someone could otherwise guess or search for: the admin token and the person-hash
#: secret (`secrets.token_urlsafe(32)`, what `mpx keys new-payload-key` prints, has 43).
MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class Unsafe:
    setting: str  # the environment variable to set
    why: str
    why_zh: str


class UnsafeSettings(Exception):
    """The node refuses to start in production: every unsafe setting, with what to do."""

    def __init__(self, problems: list[Unsafe]):
        self.problems = problems
        lines = ["生产环境（MPX_ENV=production）拒绝启动，以下设置不安全 / refusing to start in production "
                 "(MPX_ENV=production), these settings are unsafe:"]
        lines += [f"- {p.setting}: {p.why_zh} / {p.why}" for p in problems]
        super().__init__("\n".join(lines))


def unsafe_settings(settings: Settings) -> list[Unsafe]:
    """Every setting that would be unsafe in production."""
    found: list[Unsafe] = []
    if settings.role == "node":  # a monitor holds neither personal data nor signing keys of counties
        if not settings.payload_keys.get_secret_value():
            found.append(Unsafe("MPX_PAYLOAD_KEYS", "not set: personal data and signing private keys would be stored "
                                "in clear", "未设置：个人数据和签名私钥将以明文存储"))
        person = settings.person_key_secret.get_secret_value()
        if not person:
            found.append(Unsafe("MPX_PERSON_KEY_SECRET", "not set: ID numbers would be hashed with a secret derived "
                                "from the node id, which travels in receipts, so an ID number is found from its hash "
                                "in seconds", "未设置：身份证号的哈希密钥将由节点名推出（节点名随回执传出），"
                                "可在数秒内由哈希反推身份证号"))
        elif len(person) < MIN_SECRET_CHARS:
            found.append(Unsafe("MPX_PERSON_KEY_SECRET", f"shorter than {MIN_SECRET_CHARS} characters: it could be "
                                "guessed, and every ID number with it", f"少于 {MIN_SECRET_CHARS} 个字符：可被猜出，"
                                "进而反推身份证号"))
    admin = settings.admin_token.get_secret_value()
    if admin and len(admin) < MIN_SECRET_CHARS:
        found.append(Unsafe("MPX_ADMIN_TOKEN", f"shorter than {MIN_SECRET_CHARS} characters: it could be guessed, "
                            "and with it every admin power", f"少于 {MIN_SECRET_CHARS} 个字符：可被猜出，进而获得全部管理权限"))
    if settings.jwt_jwks_url and urlsplit(settings.jwt_jwks_url).scheme != "https":
        found.append(Unsafe("MPX_JWT_JWKS_URL", "not https: anyone on the path could hand the node keys of their own "
                            "and sign tokens for any county", "不是 https：途经网络的任何人都可替换公钥，为任意县区签发令牌"))
    if not settings.metrics_token.get_secret_value():
        found.append(Unsafe("MPX_METRICS_TOKEN", "not set: GET /metrics shows every county's traffic to anyone who "
                            "reaches the port", "未设置：任何能访问端口的人都可读取 /metrics 中各县区的流量"))
    if "*" in settings.webhook_hosts:
        found.append(Unsafe("MPX_WEBHOOK_HOSTS", "any host (*): a county's key could have the node post its records "
                            "to any address it reaches", "允许任意主机 (*)：持县区密钥者可让节点把报文推送到其可达的任何地址"))
    if settings.bootstrap_key.get_secret_value() and settings.bootstrap_key_expires_at is None:
        found.append(Unsafe("MPX_BOOTSTRAP_KEY_EXPIRES_AT", "not set while MPX_BOOTSTRAP_KEY is: the bootstrap key "
                            "would never expire", "已设置 MPX_BOOTSTRAP_KEY 却未设置其到期时间：该密钥将永不过期"))
    return found


def refuse_unsafe(settings: Settings) -> None:
    """Raise UnsafeSettings in production; in development warn about each unsafe setting and go on."""
    problems = unsafe_settings(settings)
    if problems and settings.env == "production":
        raise UnsafeSettings(problems)
    for p in problems:
        log.warning("%s: %s (development only; MPX_ENV=production refuses it)", p.setting, p.why)
