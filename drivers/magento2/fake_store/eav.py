"""`Eav`: the fake store's product attributes (with options), attribute sets and groups.

Magento's rules that a driver meets (research notes §5, §6):

* an attribute needs a label (``default_frontend_label`` or a store-0 frontend label), a
  known ``frontend_input`` and a code matching ``[a-z][a-z0-9_]{0,29}``; ``is_filterable``
  is refused for text-like inputs; code and input type cannot change after create; POST on
  an existing code updates it (2.4 behaviour);
* options have no code: an option is its numeric id and its unique admin label; options on
  attribute PUT are additive (a numeric ``value`` updates that option); a duplicate admin
  label on option POST is a 400;
* sets: ``skeletonId`` must name an existing set, ``attribute_set_id`` must not be sent on
  create, names are unique, PUT must say ``entity_type_id`` 4; a new set copies the
  skeleton's groups; a group must belong to the set an attribute is assigned in.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.magento2.fake_store.errors import MagentoError, not_found

__all__ = ["PRODUCT_ENTITY_TYPE", "AttributeSet", "Eav", "Group"]

PRODUCT_ENTITY_TYPE = 4
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
_INPUTS = frozenset(
    {"text", "textarea", "texteditor", "date", "datetime", "boolean", "multiselect", "select",
     "price", "media_image", "weee", "swatch_visual", "swatch_text", "weight"}
)  # fmt: skip
_NO_ATTRIBUTE = (
    'The attribute with a "%1" attributeCode doesn\'t exist. Verify the attribute and try again.'
)
_BAD_CODE = (
    'Attribute code "%1" is invalid. Please use only letters (a-z or A-Z), numbers (0-9) or '
    "underscore (_) in this field, and the first character should be a letter."
)
_NOT_IN_SET = (
    'The "%1" attribute wasn\'t found in the "%2" attribute set. Enter the attribute and try again.'
)
_OPTION_KEYS = ("label", "sort_order", "is_default", "store_labels")
_NOT_FILTERABLE = frozenset({"text", "textarea", "texteditor", "date", "datetime"})
_BACKEND = {"select": "int", "boolean": "int", "multiselect": "varchar", "price": "decimal",
            "weight": "decimal", "date": "datetime", "datetime": "datetime",
            "textarea": "text", "texteditor": "text"}  # fmt: skip
_SYSTEM = {"name": "text", "sku": "text", "description": "textarea", "short_description":
           "textarea", "price": "price", "weight": "weight", "status": "boolean", "visibility":
           "select", "url_key": "text", "meta_title": "text", "meta_keyword": "textarea",
           "meta_description": "textarea", "tax_class_id": "select", "news_from_date": "date",
           "country_of_manufacture": "select", "special_price": "price", "category_ids": "text",
           "quantity_and_stock_status": "select"}  # fmt: skip


@dataclass
class Attribute:
    attribute_id: int
    code: str
    frontend_input: str
    data: dict[str, Any]
    options: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Option id → {"label", "sort_order", "is_default", "store_labels"}."""
    user_defined: bool = True


@dataclass
class AttributeSet:
    id: int
    name: str
    sort_order: int = 0
    members: dict[str, int] = field(default_factory=dict)
    """Attribute code → group id."""


@dataclass
class Group:
    id: int
    name: str
    set_id: int


class Eav:
    """Attributes, sets and groups of the product entity type."""

    def __init__(self) -> None:
        self._ids = itertools.count(100)
        self._option_ids = itertools.count(200)
        self._set_ids = itertools.count(10)
        self._group_ids = itertools.count(20)
        self.attributes: dict[str, Attribute] = {}
        for code, kind in _SYSTEM.items():
            label = code.replace("_", " ").title()
            self.attributes[code] = Attribute(
                next(self._ids), code, kind, {"default_frontend_label": label}, user_defined=False
            )
        self.default_set_id = 4
        self.sets: dict[int, AttributeSet] = {4: AttributeSet(4, "Default", 1)}
        self.groups: dict[int, Group] = {7: Group(7, "General", 4), 8: Group(8, "Prices", 4)}
        self.sets[4].members = {code: 7 for code in _SYSTEM}

    # -- attributes -----------------------------------------------------------------------
    def attribute(self, code: str) -> Attribute | None:
        return self.attributes.get(code)

    def require_attribute(self, code: str) -> Attribute:
        attribute = self.attributes.get(code)
        if attribute is None:
            raise not_found(
                _NO_ATTRIBUTE,
                code,
            )
        return attribute

    def save_attribute(self, data: Mapping[str, Any], path_code: str | None = None) -> Attribute:
        """POST (create, or update an existing code) and PUT (update) of an attribute."""
        code = str(path_code or data.get("attribute_code") or "")
        existing = self.attributes.get(code)
        if existing is None:
            if path_code is not None:
                raise not_found(
                    _NO_ATTRIBUTE,
                    code,
                )
            return self._create_attribute(code, data)
        if not existing.user_defined:
            raise MagentoError(
                400, "The attribute %1 is a system attribute and can't be changed here.", [code]
            )
        # Code and input type are immutable: the update path forces the existing values.
        existing.data.update(
            {
                k: v
                for k, v in data.items()
                if k not in ("options", "attribute_code", "frontend_input")
            }
        )
        self._add_options(existing, data.get("options") or ())
        return existing

    def _create_attribute(self, code: str, data: Mapping[str, Any]) -> Attribute:
        if not _CODE.match(code):
            raise MagentoError(
                400,
                _BAD_CODE,
                [code],
            )
        kind = data.get("frontend_input")
        if kind not in _INPUTS:
            raise MagentoError(
                400,
                'Invalid value of "%1" provided for the %2 field.',
                [str(kind), "frontend_input"],
            )
        labels = data.get("frontend_labels") or ()
        if not data.get("default_frontend_label") and not any(
            int(x.get("store_id", -1)) == 0 for x in labels
        ):
            raise MagentoError(400, '"%1" is required. Enter and try again.', ["frontend_label"])
        if kind in _NOT_FILTERABLE and (
            data.get("is_filterable") or data.get("is_filterable_in_search")
        ):
            raise MagentoError(
                400, 'Invalid value of "%1" provided for the %2 field.', ["1", "is_filterable"]
            )
        if data.get("backend_type") not in (None, _BACKEND.get(kind, "varchar")):
            raise MagentoError(
                400,
                'Invalid value of "%1" provided for the %2 field.',
                [str(data["backend_type"]), "backend_type"],
            )
        stored = {
            k: v
            for k, v in data.items()
            if k not in ("options", "attribute_code", "frontend_input")
        }
        attribute = Attribute(next(self._ids), code, kind, stored)
        self.attributes[code] = attribute
        self._add_options(attribute, data.get("options") or ())
        return attribute

    def _add_options(self, attribute: Attribute, options: Any) -> None:
        for option in options:
            value = str(option.get("value") or "")
            entry = {
                k: option[k]
                for k in ("label", "sort_order", "is_default", "store_labels")
                if k in option
            }
            if value.isdigit() and int(value) in attribute.options:
                attribute.options[int(value)].update(entry)
            else:
                attribute.options[next(self._option_ids)] = entry

    def add_option(self, code: str, option: Mapping[str, Any]) -> int:
        attribute = self.require_attribute(code)
        label = str(option.get("label") or "")
        if not label:
            raise MagentoError(
                400, "The attribute option label is empty. Enter the value and try again."
            )
        if any(o.get("label") == label for o in attribute.options.values()):
            raise MagentoError(
                400, 'Admin store attribute option label "%1" already exists.', [label]
            )
        option_id = next(self._option_ids)
        attribute.options[option_id] = {
            k: option[k]
            for k in ("label", "sort_order", "is_default", "store_labels")
            if k in option
        }
        return option_id

    def update_option(self, code: str, option_id: int, option: Mapping[str, Any]) -> None:
        attribute = self.require_attribute(code)
        if option_id not in attribute.options:
            raise not_found('The option with "%1" ID doesn\'t exist.', str(option_id))
        attribute.options[option_id].update(
            {
                k: option[k]
                for k in ("label", "sort_order", "is_default", "store_labels")
                if k in option
            }
        )

    def delete_option(self, code: str, option_id: str) -> None:
        attribute = self.require_attribute(code)
        if not option_id.isdigit() or int(option_id) not in attribute.options:
            raise not_found(
                'The "%1" attribute doesn\'t include an option with "%2" ID.', code, option_id
            )
        del attribute.options[int(option_id)]

    def delete_attribute(self, code: str) -> None:
        attribute = self.require_attribute(code)
        if not attribute.user_defined:
            raise MagentoError(400, "The system attribute can't be deleted.")
        del self.attributes[code]
        for attribute_set in self.sets.values():
            attribute_set.members.pop(code, None)

    def options_json(self, attribute: Attribute) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"label": " ", "value": ""}]
        for option_id, option in attribute.options.items():
            out.append({"label": option.get("label", ""), "value": str(option_id),
                        **{k: option[k] for k in _OPTION_KEYS[1:] if k in option}})  # fmt: skip
        return out

    def attribute_json(self, attribute: Attribute) -> dict[str, Any]:
        data = attribute.data
        out: dict[str, Any] = {
            "attribute_id": attribute.attribute_id,
            "attribute_code": attribute.code,
            "frontend_input": attribute.frontend_input,
            "entity_type_id": str(PRODUCT_ENTITY_TYPE),
            "is_required": bool(data.get("is_required", False)),
            "is_user_defined": attribute.user_defined,
            "default_frontend_label": str(data.get("default_frontend_label", "")),
            "frontend_labels": [dict(x) for x in data.get("frontend_labels") or ()],
            "backend_type": _BACKEND.get(attribute.frontend_input, "varchar"),
            "scope": str(data.get("scope", "global")),
            "options": self.options_json(attribute)
            if attribute.frontend_input in ("select", "multiselect")
            else [],
        }
        return out

    # -- sets and groups ------------------------------------------------------------------
    def require_set(self, set_id: int, message: str | None = None, *params: str) -> AttributeSet:
        attribute_set = self.sets.get(set_id)
        if attribute_set is None:
            if message is not None:
                raise MagentoError(400, message, list(params))
            raise not_found("No such entity with %fieldName = %fieldValue")
        return attribute_set

    def create_set(self, data: Mapping[str, Any], skeleton_id: int) -> AttributeSet:
        if "attribute_set_id" in data:
            raise MagentoError(
                400,
                'Invalid value of "%1" provided for the %2 field.',
                [str(data["attribute_set_id"]), "id"],
            )
        if skeleton_id == 0 or skeleton_id not in self.sets:
            raise MagentoError(
                400,
                'Invalid value of "%1" provided for the %2 field.',
                [str(skeleton_id), "skeletonId"],
            )
        name = str(data.get("attribute_set_name") or "").strip()
        self._check_set_name(name, None)
        skeleton = self.sets[skeleton_id]
        attribute_set = AttributeSet(next(self._set_ids), name, int(data.get("sort_order") or 0))
        mapping: dict[int, int] = {}
        for group in [g for g in self.groups.values() if g.set_id == skeleton_id]:
            copy = Group(next(self._group_ids), group.name, attribute_set.id)
            self.groups[copy.id] = copy
            mapping[group.id] = copy.id
        attribute_set.members = {code: mapping[g] for code, g in skeleton.members.items()}
        self.sets[attribute_set.id] = attribute_set
        return attribute_set

    def update_set(self, set_id: int, data: Mapping[str, Any]) -> AttributeSet:
        attribute_set = self.require_set(set_id)
        if int(data.get("entity_type_id") or 0) != PRODUCT_ENTITY_TYPE:
            raise MagentoError(400, "Provided Attribute set non product Attribute set.")
        if "attribute_set_name" in data:
            name = str(data["attribute_set_name"]).strip()
            self._check_set_name(name, set_id)
            attribute_set.name = name
        if "sort_order" in data:
            attribute_set.sort_order = int(data["sort_order"])
        return attribute_set

    def _check_set_name(self, name: str, own_id: int | None) -> None:
        if not name:
            raise MagentoError(
                400, "The attribute set name is empty. Enter the name and try again."
            )
        if any(s.name == name and s.id != own_id for s in self.sets.values()):
            raise MagentoError(
                400,
                'A "%1" attribute set name already exists. Create a new name and try again.',
                [name],
            )

    def delete_set(self, set_id: int) -> None:
        self.require_set(set_id)
        if set_id == self.default_set_id:
            raise MagentoError(400, "The default attribute set can't be deleted.")
        del self.sets[set_id]
        for group_id in [g.id for g in self.groups.values() if g.set_id == set_id]:
            del self.groups[group_id]

    def set_json(self, attribute_set: AttributeSet) -> dict[str, Any]:
        return {"attribute_set_id": attribute_set.id, "attribute_set_name": attribute_set.name,
                "sort_order": attribute_set.sort_order,
                "entity_type_id": PRODUCT_ENTITY_TYPE}  # fmt: skip

    def create_group(self, data: Mapping[str, Any]) -> Group:
        set_id = int(data.get("attribute_set_id") or 0)
        self.require_set(set_id)
        name = str(data.get("attribute_group_name") or "").strip()
        if not name:
            raise MagentoError(400, "The attribute group name is empty.")
        if any(g.set_id == set_id and g.name == name for g in self.groups.values()):
            raise MagentoError(400, 'Can\'t save group. Group "%1" already exists.', [name])
        group = Group(next(self._group_ids), name, set_id)
        self.groups[group.id] = group
        return group

    def group_json(self, group: Group) -> dict[str, Any]:
        return {"attribute_group_id": str(group.id), "attribute_group_name": group.name,
                "attribute_set_id": group.set_id,
                "extension_attributes": {
                    "attribute_group_code": group.name.lower().replace(" ", "-")}}  # fmt: skip

    def assign(self, set_id: int, group_id: int, code: str) -> int:
        attribute_set = self.require_set(set_id)
        group = self.groups.get(group_id)
        if group is None or group.set_id != set_id:
            raise MagentoError(400, "The attribute group doesn't belong to the attribute set.")
        attribute = self.require_attribute(code)
        attribute_set.members[code] = group_id
        return attribute.attribute_id * 1000 + set_id

    def unassign(self, set_id: int, code: str) -> None:
        attribute_set = self.require_set(set_id)
        attribute = self.require_attribute(code)
        if not attribute.user_defined:
            raise MagentoError(400, "The system attribute can't be deleted.")
        if code not in attribute_set.members:
            raise not_found(
                _NOT_IN_SET,
                code,
                str(set_id),
            )
        del attribute_set.members[code]
