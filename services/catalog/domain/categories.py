"""The category tree: a category is filed under a parent by its path, never beneath itself,
and leaves only when nothing is filed under it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from chassis.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument
from chassis.validation import Violations
from services.catalog.domain.bounds import (
    CATEGORY_DESCRIPTION_LENGTH,
    CATEGORY_NAME_LENGTH,
    CATEGORY_POSITION,
    SLUG_LENGTH,
)
from services.catalog.domain.fields import check_paths, check_text

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

CATEGORY_PATHS = frozenset({"slug", "name", "description", "parent_id", "position"})


@dataclass
class Category:
    id: str
    slug: str
    name: str
    description: str
    parent_id: str | None
    position: int
    # The ids from the root down to this one, as /root/.../id/: a subtree is a path prefix.
    path: str

    @classmethod
    def create(cls, category_id: str, values: Category, parent: Category | None) -> Category:
        """A new category, at the top or under its parent (values checked first)."""
        slug, name, description, position = check_category(values)
        category = cls(category_id, slug, name, description, None, position, f"/{category_id}/")
        if parent is not None:
            category.move_under(parent)
        return category

    def update(self, paths: Sequence[str], values: Category) -> None:
        """Changes the fields named (a move is move_under's)."""
        check_paths(paths, CATEGORY_PATHS)
        changed = replace(self, **{p: getattr(values, p) for p in paths if p != "parent_id"})
        self.slug, self.name, self.description, self.position = check_category(changed)

    def move_under(self, parent: Category | None) -> None:
        """Files the category under a parent, or at the top; never under itself or beneath."""
        if parent is None:
            self.parent_id, self.path = None, f"/{self.id}/"
            return
        if parent.path.startswith(self.path):
            raise InvalidArgument.field(
                "parent_id", "cannot be the category itself or one beneath it", "cycle"
            )
        self.parent_id, self.path = parent.id, f"{parent.path}{self.id}/"

    def check_removable(self, *, has_children: bool, has_services: bool) -> None:
        if has_children:
            raise FailedPrecondition("the category has subcategories", reason="IN_USE")
        if has_services:
            raise FailedPrecondition("services are filed under it", reason="IN_USE")


def check_category(category: Category) -> tuple[str, str, str, int]:
    """A category's slug, name, description and position, or an error naming each bad one."""
    v = Violations()
    slug = category.slug
    if not _SLUG.match(slug) or len(slug) > SLUG_LENGTH.high:
        v.add(
            "slug", "must be lower-case words joined by hyphens, e.g. sound-healing", "invalid_slug"
        )
    name = check_text(v, "name", category.name, CATEGORY_NAME_LENGTH)
    description = check_text(v, "description", category.description, CATEGORY_DESCRIPTION_LENGTH)
    CATEGORY_POSITION.check(v, "position", category.position)
    v.raise_if_any()
    return slug, name, description, category.position


def unknown_parent() -> InvalidArgument:
    return InvalidArgument.field("parent_id", "is not a category", "unknown_category")


def slug_taken(_violation: object = None) -> AlreadyExists:
    """Category slugs are unique: they appear in URLs."""
    return AlreadyExists(
        "that slug is taken",
        reason="SLUG_TAKEN",
        violations=[FieldViolation("slug", "is already taken", "taken")],
    )
