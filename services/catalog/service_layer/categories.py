"""The category tree, kept by staff."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chassis.audit import StaffAction
from chassis.auth.principal import Principal
from chassis.errors import NotFound
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from services.catalog.domain.categories import Category, check_category, slug_taken, unknown_parent
from services.catalog.service_layer.base import Handlers
from services.catalog.uow import CatalogUnitOfWork


class CategoryHandlers(Handlers):
    async def list_categories(self) -> list[Category]:
        """The tree, parents before children."""
        async with self._uow(write=False) as uow:
            return await uow.categories.all()

    async def create_category(
        self, principal: Principal, category: Category, request_id: str = ""
    ) -> Category:
        """Staff add a category (under a parent, or at the top)."""
        check_category(category)
        idempotent = IdempotentRequest.of("CreateCategory", principal, request_id, repr(category))
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            if earlier is not None:
                found = await uow.categories.get(earlier)
                if found is None:
                    raise NotFound("the category made by this request no longer exists")
                return found
            if await uow.categories.slug_taken(category.slug):
                raise slug_taken()
            parent = await _parent(uow, category.parent_id)
            created = Category.create(new_id(), category, parent)
            await uow.categories.add(created)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "category.create",
                    f"categories/{created.id}",
                    "",
                    {},
                    _category_view(created),
                )
            )
            await uow.remember(idempotent, created.id)
            await uow.commit()
        return created

    async def update_category(
        self, principal: Principal, category_id: str, paths: Sequence[str], values: Category
    ) -> Category:
        """Staff rename, re-slug or move a category (its subtree moves with it)."""
        async with self._uow() as uow:
            category = await _category(uow, category_id)
            before, old_path = _category_view(category), category.path
            category.update(paths, values)
            if await uow.categories.slug_taken(category.slug, other_than=category.id):
                raise slug_taken()
            if "parent_id" in paths:
                category.move_under(await _parent(uow, values.parent_id))
            await uow.categories.save(category, old_path)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "category.update",
                    f"categories/{category.id}",
                    "",
                    before,
                    _category_view(category),
                )
            )
            await uow.commit()
        return category

    async def delete_category(self, principal: Principal, category_id: str) -> None:
        """Staff remove a category with no subcategories and no services."""
        async with self._uow() as uow:
            category = await _category(uow, category_id)
            category.check_removable(
                has_children=await uow.categories.has_children(category_id),
                has_services=await uow.categories.has_services(category_id),
            )
            await uow.categories.delete(category_id)
            await uow.record_staff_action(
                StaffAction(
                    principal,
                    "category.delete",
                    f"categories/{category.id}",
                    "",
                    _category_view(category),
                    {},
                )
            )
            await uow.commit()


async def _category(uow: CatalogUnitOfWork, category_id: str) -> Category:
    category = await uow.categories.get(category_id)
    if category is None:
        raise NotFound("no such category")
    return category


async def _parent(uow: CatalogUnitOfWork, parent_id: str | None) -> Category | None:
    """The category a request files one under, or None for the top."""
    if not parent_id:
        return None
    parent = await uow.categories.get(parent_id)
    if parent is None:
        raise unknown_parent()
    return parent


def _category_view(category: Category) -> dict[str, Any]:
    """A category as the audit log shows it before and after."""
    return {
        "slug": category.slug,
        "name": category.name,
        "parent_id": category.parent_id,
        "position": category.position,
    }
