"""An alert's variant (a subject and a Markdown body with tokens) made into email.

Staff write Markdown with Jinja2 tokens; members receive HTML (CSS inlined) and plain
text, personalised. Two rules shape this module:

- Staff text is untrusted code. It is checked statically against the token catalogue
  (so a typo is a 422 naming the token and line, not a blank in 2,500 inboxes, and an
  attempt to reach Python internals is refused before anything runs) and then runs
  only in Jinja's immutable sandbox: no globals, text filters only, autoescaped HTML,
  strict undefined values, and a context of plain dicts of strings.
- Everything that is the same for every recipient happens once per variant, in
  `compile_variant`: Markdown, the layout, CSS inlining, compiling. `render()` is the
  per-recipient step the send pipeline calls 100,000 times.

Markdown and Jinja must not mangle each other (Markdown would escape the quotes in
`{% if x == "none" %}` and percent-encode a `{{ links.report }}` link), so every Jinja
construct is swapped for an alphanumeric placeholder, the Markdown is rendered, the
layout is rendered around it and its CSS inlined, and only then is the Jinja put back.

Campaigns that count clicks have the links staff wrote in the body (http and https,
with no token in their address) pointed at `/r/<signed token>/<n>` instead, n being the
link's position in the variant (`tracked_links` gives the same list to the redirect, so
the numbers agree); campaigns that count opens get a one-pixel image. Previews and test
sends compile without either, so they show where links really lead. The plain-text part
is the Markdown as written, so its links are left as they are: the destination shows,
and a click there is not counted.
"""

import difflib
import html as html_text
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import css_inline
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    nodes,
    select_autoescape,
)
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context as JinjaContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markdown_it import MarkdownIt
from markupsafe import Markup

from app.campaigns.tokens import (
    NAMESPACES,
    RESERVED_NAMES,
    TOKEN_NAMES,
    TRACKING_NAMESPACE,
    Context,
    sample_context,
)
from app.i18n import SUPPORTED_LANGUAGES, text_direction, translations

EMAIL_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "email_templates"
HTML_LAYOUT = "alert.html"
TEXT_LAYOUT = "alert.txt"

Field = Literal["subject", "body"]


class TemplateProblem(Exception):
    """What is wrong with a subject or body, in words fit for the person who wrote it.

    The message names the line and the token when known, and never holds an internal
    detail (no Python object, class or value): it is shown to staff as a 422."""

    def __init__(
        self, field: Field, text: str, *, line: int | None = None, token: str | None = None
    ) -> None:
        self.field = field
        self.line = line
        self.token = token
        self.message = f"Line {line}: {text}" if line is not None else text
        super().__init__(self.message)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str
    text: str
    language: str


# --- The sandbox ----------------------------------------------------------------------

# Filters that only shape text. Left out: those that print an object's repr (pprint,
# map, select, batch, ...), reach attributes (attr, *attr, groupby), format strings
# (format), or turn escaping off (safe).
ALLOWED_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "e",
        "escape",
        "first",
        "float",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "replace",
        "round",
        "string",
        "striptags",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "wordcount",
        "wordwrap",
    }
)

# What a `{% for %}` loop offers, besides loop.cycle(...) and loop.changed(...).
LOOP_ATTRIBUTES = frozenset(
    {
        "index",
        "index0",
        "revindex",
        "revindex0",
        "first",
        "last",
        "length",
        "depth",
        "depth0",
        "previtem",
        "nextitem",
    }
)
LOOP_METHODS = frozenset({"cycle", "changed"})

# Tags that load other templates, switch escaping off, or only make sense with them.
FORBIDDEN_TAGS = (
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
    nodes.Block,
    nodes.EvalContextModifier,
    nodes.NSRef,
)

MAX_REPEATED_LENGTH = 10_000
MAX_POWER_BITS = 10_000


class TooLarge(SecurityError):
    """`"x" * 10**9` and the like: refused rather than filling the worker's memory."""


class AlertSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with nothing in it but what the tokens bring."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.globals.clear()  # range, lipsum, cycler, joiner, dict, namespace
        self.filters = {name: f for name, f in self.filters.items() if name in ALLOWED_FILTERS}

    def call_binop(self, context: JinjaContext, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_REPEATED_LENGTH
                ):
                    raise TooLarge("repeated text too long")
        if (
            operator_ == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left).bit_length() * abs(right) > MAX_POWER_BITS
        ):
            raise TooLarge("number too large")
        return super().call_binop(context, operator_, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # The recipient's values are plain dicts: `contact.name` is their key, so look
        # there first instead of failing an attribute lookup on every token of every
        # message (about a tenth of the render). Keys are data we put there; anything
        # else goes through the sandbox's own checks.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


# HTML (autoescaped) for the body in the layout; text (not escaped) for the plain-text
# part and the subject, which is a mail header, not HTML.
HTML_SANDBOX = AlertSandbox(autoescape=True)
TEXT_SANDBOX = AlertSandbox(autoescape=False)


# --- The static check -----------------------------------------------------------------


class TokenChecker:
    """Walks a parsed template and refuses anything but the documented tokens.

    Names a template binds itself ({% set %}, {% for %}, macro parameters) may be used
    freely as values; nothing may reach an attribute except the tokens and `loop.*`,
    and nothing may be called except the template's own macros and `loop.cycle()`."""

    def __init__(self, field: Field, template: nodes.Template) -> None:
        self.field = field
        self.variables = {
            name.name for name in template.find_all(nodes.Name) if name.ctx in ("store", "param")
        }
        self.callables = {macro.name for macro in template.find_all(nodes.Macro)}
        if any(True for _ in template.find_all((nodes.Macro, nodes.CallBlock))):
            self.callables.add("caller")
        self.has_loops = any(True for _ in template.find_all(nodes.For))

    def check(self, node: nodes.Node) -> None:
        if isinstance(node, FORBIDDEN_TAGS):
            raise self.problem(node, "that tag is not allowed")
        if isinstance(node, nodes.Macro) and node.name in RESERVED_NAMES:
            raise self.reserved_name(node, node.name)
        if isinstance(node, nodes.Name):
            self.check_name(node)
        elif isinstance(node, nodes.Getattr | nodes.Getitem):
            self.check_lookup(node)
        elif isinstance(node, nodes.Call):
            self.check_call(node)
        elif isinstance(node, nodes.Filter):
            self.check_filter(node)
        else:
            self.check_children(node)

    def check_children(self, node: nodes.Node) -> None:
        for child in node.iter_child_nodes():
            self.check(child)

    def check_name(self, node: nodes.Name) -> None:
        if node.ctx in ("store", "param"):
            if node.name in RESERVED_NAMES:
                raise self.reserved_name(node, node.name)
            return
        if node.name in self.variables:
            return
        if node.name in self.callables or (node.name == "loop" and self.has_loops):
            raise self.problem(node, "that expression is not allowed")
        raise self.unknown_token(node, node.name)

    def check_lookup(self, node: nodes.Getattr | nodes.Getitem) -> None:
        if isinstance(node, nodes.Getitem) and not _is_text_constant(node.arg):
            # An index or a slice (`contact.name[0]`): check what is indexed, and the index.
            self.check(node.node)
            self.check(node.arg)
            return
        attributes, base = _lookup_chain(node)
        if any(attribute.startswith("_") for attribute in attributes):
            raise self.problem(node, "that expression is not allowed")
        if not isinstance(base, nodes.Name):
            raise self.problem(node, "that expression is not allowed")
        dotted = ".".join([base.name, *attributes])
        if base.name == "loop" and self.has_loops and base.name not in self.variables:
            if len(attributes) == 1 and attributes[0] in LOOP_ATTRIBUTES:
                return
            raise self.problem(node, "that expression is not allowed")
        if base.name in self.variables or base.name in self.callables:
            raise self.problem(node, "that expression is not allowed")
        if dotted not in TOKEN_NAMES:
            raise self.unknown_token(node, dotted)

    def check_call(self, node: nodes.Call) -> None:
        callee = node.node
        if isinstance(callee, nodes.Name):
            allowed = callee.name in self.callables or (callee.name == "loop" and self.has_loops)
            if not allowed:
                if callee.name in self.variables:
                    raise self.problem(node, "that expression is not allowed")
                raise self.unknown_token(node, callee.name)
        elif not (
            isinstance(callee, nodes.Getattr)
            and isinstance(callee.node, nodes.Name)
            and callee.node.name == "loop"
            and self.has_loops
            and callee.attr in LOOP_METHODS
        ):
            raise self.problem(node, "that expression is not allowed")
        for argument in [*node.args, *node.kwargs, node.dyn_args, node.dyn_kwargs]:
            if argument is not None:
                self.check(argument)

    def check_filter(self, node: nodes.Filter) -> None:
        if node.name not in ALLOWED_FILTERS:
            raise self.problem(node, f"the `{node.name}` filter is not available")
        # join's second argument reads an attribute of each item.
        if node.name == "join" and (len(node.args) > 1 or node.kwargs):
            raise self.problem(node, "that expression is not allowed")
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise self.problem(node, "that expression is not allowed")
        self.check_children(node)

    def reserved_name(self, node: nodes.Node, name: str) -> TemplateProblem:
        if name in NAMESPACES:
            return self.problem(node, f"`{name}` is the name of tokens: choose another name", name)
        return self.problem(node, f"`{name}` is a name the alert uses: choose another name", name)

    def unknown_token(self, node: nodes.Node, name: str) -> TemplateProblem:
        text = f"`{name}` is not a token you can use"
        if name in NAMESPACES:
            examples = sorted(token for token in TOKEN_NAMES if token.startswith(name + "."))
            text += f" on its own; its tokens are {', '.join(f'`{t}`' for t in examples)}"
        elif suggestion := difflib.get_close_matches(name, sorted(TOKEN_NAMES), n=1, cutoff=0.8):
            text += f" (did you mean `{suggestion[0]}`?)"
        return self.problem(node, text, name)

    def problem(self, node: nodes.Node, text: str, token: str | None = None) -> TemplateProblem:
        return TemplateProblem(self.field, text, line=node.lineno, token=token)


def _is_text_constant(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, str)


def _lookup_chain(node: nodes.Getattr | nodes.Getitem) -> tuple[list[str], nodes.Node]:
    """`country.name` or `country["name"]` as (["name"], the `country` node)."""
    attributes: list[str] = []
    current: nodes.Node = node
    while True:
        if isinstance(current, nodes.Getattr):
            attributes.insert(0, current.attr)
            current = current.node
        elif isinstance(current, nodes.Getitem) and _is_text_constant(current.arg):
            attributes.insert(0, current.arg.value)  # type: ignore[attr-defined]
            current = current.node
        else:
            return attributes, current


def _checked_ast(source: str, field: Field) -> nodes.Template:
    """Parse staff text (syntax errors carry their line) and check its tokens."""
    try:
        template = TEXT_SANDBOX.parse(source)
    except TemplateSyntaxError as error:
        raise _syntax_problem(error, field) from None
    TokenChecker(field, template).check(template)
    return template


def _syntax_problem(error: TemplateSyntaxError, field: Field) -> TemplateProblem:
    detail = (error.message or "the template is not valid").rstrip(".")
    return TemplateProblem(field, f"syntax error: {detail}", line=error.lineno)


def _compile_staff_text(source: str, field: Field) -> Template:
    """Staff text on its own, as plain text: its lines are the lines staff wrote."""
    _checked_ast(source, field)
    return _compile(source, TEXT_SANDBOX, field)


def _compile(source: str, environment: AlertSandbox, field: Field) -> Template:
    try:
        return environment.from_string(source)
    except TemplateSyntaxError as error:
        raise _syntax_problem(error, field) from None


# --- Errors while rendering -----------------------------------------------------------


def _runtime_problem(
    error: Exception,
    field: Field,
    *,
    first_line: int | None = 1,
    line_count: int | None = None,
) -> TemplateProblem:
    """A rendering error in words that reveal nothing of the objects involved.

    `first_line` is the line of the failed template where the staff text starts (the
    text part has the layout's header before it), so that the line reported is the one
    staff wrote; None when the template's lines are not the staff's (the HTML part)."""
    if isinstance(error, TooLarge):
        text = "that expression makes a value too large"
    elif isinstance(error, SecurityError):
        text = "that expression is not allowed"
    elif isinstance(error, UndefinedError):
        text = "a value used here does not exist"
    elif isinstance(error, ZeroDivisionError):
        text = "division by zero"
    else:
        text = "this part could not be rendered"
    line = _template_line(error.__traceback__)
    if line is not None and first_line is not None:
        line = line - first_line + 1
        if line < 1 or (line_count is not None and line > line_count):
            line = None
    else:
        line = None
    return TemplateProblem(field, text, line=line)


def _template_line(traceback: TracebackType | None) -> int | None:
    """The template line Jinja reports in the traceback (its frames are `<template>`)."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


# --- Markdown with Jinja in it ----------------------------------------------------------

MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
MARKDOWN.enable(["table", "strikethrough"])

CSS_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)

# Placeholder kinds: Jinja expressions, statements and comments, and verbatim text.
EXPRESSION, STATEMENT, COMMENT, VERBATIM = "x", "s", "c", "v"

_JINJA_OPENER = re.compile(r"\{[{%#]")
_RAW_START = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}\Z")
_RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_PARAGRAPH = re.compile(r"<p>(.*?)</p>", re.DOTALL)


class Placeholders:
    """Alphanumeric stand-ins that Markdown and css-inline leave alone.

    Each compile draws its own random prefix, so text that staff type cannot be
    mistaken for a placeholder."""

    def __init__(self) -> None:
        self.prefix = "zq" + secrets.token_hex(4)
        self.values: list[str] = []
        self.pattern = re.compile(
            rf"{self.prefix}([{EXPRESSION}{STATEMENT}{COMMENT}{VERBATIM}])(\d+)zq"
        )
        self.statement = re.compile(rf"{self.prefix}[{STATEMENT}{COMMENT}]\d+zq")

    def hold(self, value: str, kind: str) -> str:
        self.values.append(value)
        return f"{self.prefix}{kind}{len(self.values) - 1}zq"

    def restore(self, text: str) -> str:
        return self.pattern.sub(lambda match: self.values[int(match.group(2))], text)


def split_jinja(source: str) -> list[tuple[str, str | None]]:
    """The source as (text, None) and (Jinja construct, kind) pieces, in order.

    Follows Jinja's lexer: a construct ends at the first closing delimiter outside a
    string and outside brackets; the inside of `{% raw %}` is text."""
    pieces: list[tuple[str, str | None]] = []
    position = 0
    while (opener := _JINJA_OPENER.search(source, position)) is not None:
        start = opener.start()
        if start > position:
            pieces.append((source[position:start], None))
        end = _construct_end(source, start)
        construct = source[start:end]
        kind = {"{": EXPRESSION, "%": STATEMENT, "#": COMMENT}[construct[1]]
        pieces.append((construct, kind))
        position = end
        if kind == STATEMENT and _RAW_START.match(construct):
            raw_end = _RAW_END.search(source, position)
            if raw_end is None:
                break
            if raw_end.start() > position:
                pieces.append((source[position : raw_end.start()], None))
            pieces.append((raw_end.group(), STATEMENT))
            position = raw_end.end()
    if position < len(source):
        pieces.append((source[position:], None))
    return pieces


def _construct_end(source: str, start: int) -> int:
    if source[start + 1] == "#":
        end = source.find("#}", start + 2)
        return len(source) if end < 0 else end + 2
    closer = "}}" if source[start + 1] == "{" else "%}"
    depth = 0
    quote: str | None = None
    index = start + 2
    while index < len(source):
        char = source[index]
        if quote is not None:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif depth == 0 and source.startswith(closer, index):
            return index + 2
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        index += 1
    return len(source)


def markdown_to_html(body: str, placeholders: Placeholders) -> str:
    """The body's Markdown as HTML, its Jinja held as placeholders."""
    held = "".join(
        text if kind is None else placeholders.hold(text, kind) for text, kind in split_jinja(body)
    )
    statement = placeholders.statement
    html = MARKDOWN.render(_isolate_statement_lines(held, statement))
    return _PARAGRAPH.sub(lambda match: _unwrap_statements(match.group(1), statement), html)


def _isolate_statement_lines(markdown: str, statement: re.Pattern[str]) -> str:
    """Give each line holding only `{% … %}` tags blank lines around it.

    Markdown then makes it a block of its own instead of the tail of a paragraph or a
    list item, so `{% if %}` / `{% endif %}` lines around paragraphs or a whole list
    wrap exactly those blocks and the HTML stays well formed whichever branch runs (a
    list with a condition between its items becomes consecutive lists; ordered lists
    keep their numbers)."""
    only_statements = re.compile(rf"\s*(?:{statement.pattern}\s*)+")
    lines: list[str] = []
    for line in markdown.split("\n"):
        lines.extend(["", line, ""] if only_statements.fullmatch(line) else [line])
    return "\n".join(lines)


def _unwrap_statements(text: str, statement: re.Pattern[str]) -> str:
    """A paragraph that is only tags loses its `<p>`; tags that open and close a
    paragraph's text (`{% if %}Text{% endif %}`) move just outside it, so a false
    condition leaves no empty `<p></p>`."""
    lead, middle, trail = re.fullmatch(  # type: ignore[union-attr]
        rf"((?:{statement.pattern}\s*)*)(.*?)((?:\s*{statement.pattern})*)", text, re.DOTALL
    ).groups()
    if not middle.strip():
        return text.strip()
    if (not lead and not trail) or statement.search(middle):
        return f"<p>{text}</p>"
    return f"{lead}<p>{middle}</p>{trail}"


# --- The layout -------------------------------------------------------------------------


@lru_cache(maxsize=16)
def layout_environment(language: str) -> Environment:
    """The project's own templates: trusted, so a normal environment, with gettext."""
    environment = Environment(
        loader=FileSystemLoader(EMAIL_TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return environment


def _token_source(name: str) -> str:
    """The Jinja a layout writes for a per-recipient value (for the sandbox stage)."""
    if name not in TOKEN_NAMES:
        raise ValueError(f"The layout uses {name!r}, which is not a token")
    return "{{ " + name + " }}"


# --- Counting clicks -------------------------------------------------------------------

# Markdown's links (it escapes quotes in attributes, so an address ends at the first ").
_LINK_HREF = re.compile(r'<a href="([^"]*)"')
_TRACKED_SCHEMES = frozenset({"http", "https"})
_CLICK_SOURCE = "{{ " + TRACKING_NAMESPACE + ".click }}"
_OPEN_IMAGE_SOURCE = "{{ " + TRACKING_NAMESPACE + ".open }}"


def _is_tracked(href: str, placeholders: Placeholders) -> bool:
    """A web address written out in full. Addresses built from tokens differ for each
    recipient, so no single redirect could stand for them; mailto: and the like are not
    visits."""
    if placeholders.prefix in href:
        return False
    try:
        scheme = urlsplit(html_text.unescape(href)).scheme
    except ValueError:
        return False
    return scheme.lower() in _TRACKED_SCHEMES


def _route_links_through_tracking(html: str, placeholders: Placeholders) -> str:
    number = 0

    def tracked(match: re.Match[str]) -> str:
        nonlocal number
        if not _is_tracked(match.group(1), placeholders):
            return match.group(0)
        number += 1
        return f'<a href="{placeholders.hold(_CLICK_SOURCE, EXPRESSION)}/{number}"'

    return _LINK_HREF.sub(tracked, html)


@lru_cache(maxsize=256)
def tracked_links(body: str) -> tuple[str, ...]:
    """The addresses a variant's click links lead to, in their order (link n is item
    n-1): what the redirect sends a click to, and nothing else."""
    placeholders = Placeholders()
    html = markdown_to_html(_normalized(body), placeholders)
    return tuple(
        html_text.unescape(href)
        for href in _LINK_HREF.findall(html)
        if _is_tracked(href, placeholders)
    )


def html_template_source(
    *,
    language: str,
    body: str,
    title: str,
    track_clicks: bool = False,
    track_opens: bool = False,
) -> str:
    """The whole HTML message as Jinja for the sandbox: body, layout and inlined CSS."""
    placeholders = Placeholders()

    def personal(name: str) -> Markup:
        # A placeholder is letters and digits only: nothing to escape.
        return Markup(placeholders.hold(_token_source(name), EXPRESSION))  # noqa: S704

    body_html = markdown_to_html(body, placeholders)
    if track_clicks:
        body_html = _route_links_through_tracking(body_html, placeholders)
    open_image = (
        Markup(placeholders.hold(_OPEN_IMAGE_SOURCE, EXPRESSION))  # noqa: S704
        if track_opens
        else None
    )
    html = (
        layout_environment(language)
        .get_template(HTML_LAYOUT)
        .render(
            language=language,
            direction=text_direction(language),
            title=title,
            # Markdown's own output: staff HTML in it is already escaped.
            body=Markup(body_html),  # noqa: S704
            personal=personal,
            open_image=open_image,
        )
    )
    inlined = CSS_INLINER.inline(html)
    # Only placeholders stand for Jinja here. Any other brace is text (in the title, a
    # translation, or `\{\{` in Markdown) and must reach the sandbox as text.
    return placeholders.restore(inlined.replace("{", "&#123;"))


def text_template_source(*, language: str, body: str) -> tuple[str, int]:
    """The plain-text message as Jinja for the sandbox, and the line its body starts on.

    The body goes in as written (its Markdown source is the text part); any other brace
    is the layout's own text and is written so that the sandbox prints it as text."""
    placeholders = Placeholders()
    body_placeholder = placeholders.hold(body.strip("\n"), VERBATIM)
    text = (
        layout_environment(language)
        .get_template(TEXT_LAYOUT)
        .render(
            body=body_placeholder,
            personal=lambda name: placeholders.hold(_token_source(name), EXPRESSION),
        )
    )
    leading_blank_lines = len(body) - len(body.lstrip("\n"))
    first_body_line = text[: text.index(body_placeholder)].count("\n") + 1 - leading_blank_lines
    return placeholders.restore(text.replace("{", "{{ '{' }}")), first_body_line


# --- The interface ----------------------------------------------------------------------

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def one_line(subject: str) -> str:
    """A subject fit for a mail header: no CR/LF or other control character, one space
    between words (so no token value or pasted text can inject a header)."""
    return " ".join(_CONTROL_CHARACTERS.sub(" ", subject).split())


class CompiledVariant:
    """One variant in one language, ready to be rendered for each recipient."""

    __slots__ = (
        "_body_line_count",
        "_html",
        "_subject",
        "_text",
        "_text_first_body_line",
        "language",
        "tracks",
    )

    def __init__(
        self,
        *,
        language: str,
        subject: Template,
        html: Template,
        text: Template,
        text_first_body_line: int,
        body_line_count: int,
        tracks: bool = False,
    ) -> None:
        self.language = language
        # Whether the message needs the recipient's tracking links (RecipientLinks.tracking).
        self.tracks = tracks
        self._subject = subject
        self._html = html
        self._text = text
        self._text_first_body_line = text_first_body_line
        self._body_line_count = body_line_count

    def render(self, context: Context) -> RenderedMessage:
        try:
            subject = one_line(self._subject.render(context))
        except Exception as error:
            raise _runtime_problem(error, "subject") from None
        try:
            text = self._text.render(context)
        except Exception as error:
            raise _runtime_problem(
                error,
                "body",
                first_line=self._text_first_body_line,
                line_count=self._body_line_count,
            ) from None
        try:
            html = self._html.render(context)
        except Exception as error:
            raise _runtime_problem(error, "body", first_line=None) from None
        return RenderedMessage(subject=subject, html=html, text=text, language=self.language)


def _normalized(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


# The HTML document's <title>: some mail clients show it, so never the internal title.
DOCUMENT_TITLE = "Coalition for the International Criminal Court"


def compile_variant(
    *,
    language: str,
    subject: str,
    body: str,
    title: str = DOCUMENT_TITLE,
    track_clicks: bool = False,
    track_opens: bool = False,
) -> CompiledVariant:
    """Markdown once, layout once, CSS inlined once, sandbox compile once.

    With `track_clicks` or `track_opens` the message needs the recipient's tracking
    links in its context (`RecipientLinks.tracking`)."""
    subject, body = _normalized(subject), _normalized(body)
    subject_template = _compile_staff_text(subject, "subject")
    _checked_ast(body, "body")
    text_source, text_first_body_line = text_template_source(language=language, body=body)
    return CompiledVariant(
        language=language,
        subject=subject_template,
        html=_compile(
            html_template_source(
                language=language,
                body=body,
                title=title,
                track_clicks=track_clicks,
                track_opens=track_opens,
            ),
            HTML_SANDBOX,
            "body",
        ),
        text=_compile(text_source, TEXT_SANDBOX, "body"),
        text_first_body_line=text_first_body_line,
        body_line_count=body.count("\n") + 1,
        tracks=track_clicks or track_opens,
    )


def warm_up() -> None:
    """Load what every compile needs once (the catalogues of every language, the layout
    and its CSS), so that a process forked afterwards shares it instead of loading it
    again on its first alert (about 0.3 s of CPU a process)."""
    for language in SUPPORTED_LANGUAGES:
        compile_variant(language=language, subject="{{ country.name }}", body="Hello.")


def check_variant(subject: str, body: str, language: str = "en") -> CompiledVariant:
    """Raise TemplateProblem for the first problem in a variant, before it is saved.

    Syntax, then tokens (statically, so the line is the one staff wrote), then a render
    of subject and body with sample values in every supported language, then the full
    message in the variant's own language (the costly step: Markdown, layout, CSS).
    Returns that compiled message, for a preview of unsaved text to render."""
    subject, body = _normalized(subject), _normalized(body)
    subject_template = _compile_staff_text(subject, "subject")
    body_template = _compile_staff_text(body, "body")
    for sample_language in SUPPORTED_LANGUAGES:
        context = sample_context(sample_language)
        _render_checked(subject_template.render, context, "subject")
        _render_checked(body_template.render, context, "body")
    compiled = compile_variant(language=language, subject=subject, body=body)
    compiled.render(sample_context(language))
    return compiled


def _render_checked(render: Callable[[Context], str], context: Context, field: Field) -> None:
    try:
        render(context)
    except Exception as error:
        raise _runtime_problem(error, field) from None
