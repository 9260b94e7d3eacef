"""`Magento2Config`: the ``magento2`` driver's configuration (an integration's ``config:``).

Every key is documented here; ``iec-connector drivers show magento2`` prints them as JSON
Schema. Secrets are `SecretStr` (redacted by the runtime, never printed); give them through
``${ENV_VAR}`` references in the configuration file.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    field_validator,
    model_validator,
)

__all__ = ["DEFAULT_FIELD_MAP", "Magento2Config"]

DEFAULT_FIELD_MAP: dict[str, str] = {
    "name": "name",
    "description": "description",
    "short_description": "short_description",
    "price": "price",
    "weight": "weight",
    "enabled": "status",
    "visibility": "visibility",
    "stock": "qty",
    "url_key": "url_key",
    "meta_title": "meta_title",
    "meta_description": "meta_description",
}
"""IEC payload field → Magento attribute. ``status``, ``visibility`` and ``qty`` are
converted (``enabled`` true/false → 1/2; ``catalog_search``-style names → 1..4; stock → the
default stock item); prices and weights accept ``{"amount", "currency"|"unit"}`` shapes."""

_CODE = r"^[a-z][a-z0-9_]*$"


class Magento2Config(BaseModel):
    """Configuration of one Magento 2.4 (Open Source / Adobe Commerce) integration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl = Field(
        description="The store's base URL, e.g. https://shop.example.com (REST is below /rest)."
    )
    auth: Literal["oauth", "bearer"] = Field(
        "oauth",
        description=(
            "oauth: sign every request with the integration's OAuth 1.0a credentials "
            "(HMAC-SHA256; Admin > System > Integrations). bearer: send the integration's "
            "access token as a bearer token (needs Stores > Configuration > Services > OAuth > "
            "Consumer Settings > Allow OAuth Access Tokens to be used as standalone Bearer "
            "tokens = Yes, off by default since 2.4.4)."
        ),
    )
    consumer_key: SecretStr | None = Field(None, description="Integration consumer key (oauth).")
    consumer_secret: SecretStr | None = Field(
        None, description="Integration consumer secret (oauth)."
    )
    access_token: SecretStr | None = Field(
        None, description="Integration access token (oauth and bearer)."
    )
    access_token_secret: SecretStr | None = Field(
        None, description="Integration access token secret (oauth)."
    )
    admin_store_code: str = Field(
        "all",
        description="Store code of admin scope: global values are written through it.",
    )
    default_locale: str = Field(
        "en_US", description="Locale whose values are written at admin scope."
    )
    locale_stores: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Locale → store view code that receives that locale's values, e.g. "
            '{"de_DE": "de", "fr_FR": "fr"}. Other locales are not sent.'
        ),
    )
    website_ids: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [1],
        min_length=1,
        description="Websites new products are assigned to.",
    )
    default_attribute_set_id: int = Field(
        4,
        ge=1,
        description=(
            "Attribute set of products without a family, and the skeleton new sets copy "
            "(Magento's 'Default' set is 4)."
        ),
    )
    attribute_set_name: str = Field(
        "PIM {label} ({code})",
        description="Name of the set made for a family: {label} and {code} are substituted.",
    )
    attribute_group_name: str = Field(
        "PIM", description="Group created in each family's set for the family's attributes."
    )
    attribute_code_prefix: Annotated[str, Field(pattern=r"^[a-z0-9_]*$", max_length=10)] = Field(
        "",
        description="Prefix of the Magento attribute codes made from IEC attribute codes.",
    )
    root_category_id: int = Field(
        2, ge=1, description="Parent of categories without a parent (the store's root category)."
    )
    field_map: dict[str, Annotated[str, Field(pattern=_CODE)]] = Field(
        default_factory=lambda: dict(DEFAULT_FIELD_MAP),
        description=(
            "IEC product field → Magento attribute code, merged over the default (which maps "
            "name, description, short_description, price, weight, enabled→status, visibility, "
            "stock→qty, url_key, meta_title and meta_description): give only the fields to add "
            "or map differently. Product values of IEC attributes this integration created are "
            "sent too, with option codes turned into option ids."
        ),
    )
    price_currency: str = Field(
        "EUR", description="Currency taken from multi-currency prices (the first if absent)."
    )
    channel: str | None = Field(
        "ecommerce",
        description="Scope (channel) of scoped IEC values to send; unscoped values always go.",
    )
    request_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Timeout of one HTTP request; must stay below the handle timeout.",
    )
    max_concurrent_requests: int = Field(
        8,
        ge=1,
        le=256,
        description=(
            "Requests in flight at once per integration instance (different SKUs/codes run "
            "concurrently; requests for one SKU or code stay in order)."
        ),
    )
    allow_destructive_deletes: bool = Field(
        False,
        description=(
            "Carry out attribute and family deletes. Deleting an attribute deletes its values "
            "on every product; deleting an attribute set deletes every product in it. Off: "
            "those events are dead-lettered with the reason."
        ),
    )
    bulk_mode: bool = Field(
        False,
        description=(
            "Write products through the asynchronous bulk API (/async/bulk/V1/products), "
            "polling each item's status: for initial loads and backfills, not live traffic. "
            "Needs the store's async.operations.all consumer running."
        ),
    )
    bulk_poll_interval_s: float = Field(
        0.5, gt=0, description="Pause between two status polls of a bulk."
    )

    @field_validator("field_map", mode="after")
    @classmethod
    def _over_the_default(cls, given: dict[str, str]) -> dict[str, str]:
        # A map that replaced the default would create products without name or price.
        return {**DEFAULT_FIELD_MAP, **given}

    @model_validator(mode="after")
    def _credentials_complete(self) -> Magento2Config:
        needed = (
            ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
            if self.auth == "oauth"
            else ("access_token",)
        )
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(
                f"auth {self.auth!r} needs {', '.join(missing)} (the integration's credentials "
                "from Admin > System > Extensions > Integrations; give them as ${ENV_VAR})"
            )
        return self

    def rest_url(self, store_code: str) -> str:
        """The REST root of one store scope: ``<base_url>/rest/<store_code>``."""
        return f"{str(self.base_url).rstrip('/')}/rest/{store_code}"
