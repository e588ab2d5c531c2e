"""Restricted script engine: diagrams come from designers through the web, so every
script, condition and expression is checked before it is deployed or run."""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

SAFE_BUILTINS: dict[str, Any] = {
    name: __builtins__[name] if isinstance(__builtins__, dict) else getattr(__builtins__, name)
    for name in (
        "len", "str", "int", "float", "bool", "min", "max", "abs", "round", "sorted",
        "list", "dict", "set", "tuple", "any", "all", "range", "enumerate", "zip", "sum",
        "isinstance", "reversed", "None", "True", "False",
    )
}

FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "open", "compile", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "__import__", "breakpoint", "input", "help", "dir", "type", "object", "memoryview",
    "super", "classmethod", "staticmethod", "property", "exit", "quit",
})
# str.format can reach attributes through "{0.__class__}"; block the methods outright.
FORBIDDEN_ATTRIBUTES = frozenset({"format", "format_map", "mro", "gi_frame", "f_globals"})


class ScriptRejected(ValueError):
    """A script or expression uses something outside the allowed subset."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def check_source(source: str, mode: str = "exec") -> None:
    """Reject imports, dunder access and dangerous builtins (raises ScriptRejected)."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptRejected(f"语法错误：{exc.msg}", exc.lineno) from exc
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptRejected("脚本中不允许使用 import", line)
        if isinstance(node, ast.Global | ast.Nonlocal):
            raise ScriptRejected("脚本中不允许使用 global/nonlocal", line)
        if isinstance(node, ast.Match):
            # class patterns read attributes by name (case str(__class__=c)): not allowed
            raise ScriptRejected("脚本中不允许使用 match 语句", line)
        if isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise ScriptRejected(f"不允许使用以下划线开头的名称：{node.id}", line)
            if node.id in FORBIDDEN_NAMES:
                raise ScriptRejected(f"不允许调用 {node.id}", line)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES:
                raise ScriptRejected(f"不允许访问属性 {node.attr}", line)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            raise ScriptRejected("脚本中不允许定义函数或类", line)


@lru_cache(maxsize=4096)
def _compiled(source: str, mode: str) -> Any:
    check_source(source, mode)
    return compile(source, "<string>", mode)


class RestrictedEnvironment(TaskDataEnvironment):
    """Evaluates with a whitelist of builtins plus GovFlow's helper functions."""

    def __init__(self, helpers: dict[str, Callable[..., Any]]) -> None:
        super().__init__(dict(helpers))

    def _globals(self, context: dict[str, Any], external: dict[str, Any] | None) -> dict[str, Any]:
        scope = dict(self.globals)
        scope.update(external or {})
        scope.update(context)
        scope["__builtins__"] = SAFE_BUILTINS
        return scope

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        return eval(_compiled(expression.strip(), "eval"), self._globals(context, external_context))

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        scope = self._globals(context, external_context)
        exec(_compiled(script, "exec"), scope)
        for key, value in scope.items():
            if key == "__builtins__" or callable(value) or key in self.globals:
                continue
            if external_context and key in external_context:
                continue
            context[key] = value
        for key in [k for k in context if k not in scope]:
            context.pop(key)
        return True


class RestrictedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose validate() applies the same checks as run time."""

    def __init__(self, helpers: dict[str, Callable[..., Any]]) -> None:
        super().__init__(environment=RestrictedEnvironment(helpers))

    def validate(self, expression: str) -> None:
        check_source(expression, "exec")
