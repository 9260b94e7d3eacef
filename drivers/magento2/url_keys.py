"""Explicit ``url_key`` values (pure logic).

Magento derives a missing ``url_key`` from the name, and two products or sibling categories
with one name then fail with ``URL key for specified store already exists.`` (research notes
§8, the top failure of existing connectors). The driver therefore always sends one:

* products: the payload's own ``url_key`` if it has one, else ``<slug of the name>-<slug of
  the SKU>``, unique because the SKU is;
* categories: the slug of the category's code (else of its name), unique among siblings
  because codes are unique in the PIM.

Slugs come from `python-slugify` (transliterates "Größe" to "grosse", "麻" to "ma"), at most
``MAX_LENGTH`` characters.
"""

from __future__ import annotations

from slugify import slugify

__all__ = ["MAX_LENGTH", "category_url_key", "product_url_key", "slug"]

MAX_LENGTH = 120


def slug(text: str, max_length: int = MAX_LENGTH) -> str:
    return str(slugify(text, max_length=max_length, word_boundary=False))


def product_url_key(sku: str, name: str | None, given: str | None = None) -> str:
    """The ``url_key`` of a product (see the module docstring)."""
    if given and slug(given):
        return slug(given)
    sku_part = slug(sku, 40) or "product"
    name_part = slug(name or "", MAX_LENGTH - len(sku_part) - 1)
    return f"{name_part}-{sku_part}" if name_part else sku_part


def category_url_key(code: str | None, name: str | None, fallback: str) -> str:
    """The ``url_key`` of a category: from its code, else its name, else `fallback`."""
    for text in (code, name, fallback):
        if text and slug(text):
            return slug(text)
    return slug(fallback) or "category"
