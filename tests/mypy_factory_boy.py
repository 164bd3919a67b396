"""A mypy plugin: calling a factory_boy factory gives the model it builds.

`SiteFactory()` runs `FactoryMetaClass.__call__`, which returns `SiteFactory.create()`, a `Site`.
mypy does not read a metaclass's `__call__`, so without this plugin it types the call as a
`SiteFactory` instance and every attribute of the result is an error. The model comes from the
factory's generic base (`DjangoModelFactory[Site]`), so a subclass such as `SurgeonFactory`
(of `StaffMemberFactory`) gives `StaffMember` too.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.maptype import map_instance_to_supertype
from mypy.nodes import TypeInfo
from mypy.plugin import FunctionContext, Plugin
from mypy.types import Instance, Type, get_proper_type

BASE_FACTORY = "factory.base.BaseFactory"


def _built_model(ctx: FunctionContext) -> Type:
    factory = get_proper_type(ctx.default_return_type)
    if not isinstance(factory, Instance):
        return ctx.default_return_type
    base = next((info for info in factory.type.mro if info.fullname == BASE_FACTORY), None)
    if base is None:
        return ctx.default_return_type
    model_args = map_instance_to_supertype(factory, base).args
    return model_args[0] if model_args else ctx.default_return_type


class FactoryBoyPlugin(Plugin):
    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        symbol = self.lookup_fully_qualified(fullname)
        if symbol is not None and isinstance(symbol.node, TypeInfo) and symbol.node.has_base(BASE_FACTORY):
            return _built_model
        return None


def plugin(version: str) -> type[Plugin]:
    return FactoryBoyPlugin
