"""The one HTML sanitiser: every rich-text value (a form's `contentMediaType: text/html` field)
passes through `clean` before it is stored and again before it is shown, so that no script,
style, event attribute, frame or `javascript:` link written into an article reaches a reader.
An allow-list (nh3, i.e. Ammonia): what is not named here is dropped."""

from __future__ import annotations

import html as html_lib
import re

import nh3

TAGS = frozenset({
    "p", "br", "strong", "b", "em", "i", "u", "s", "h2", "h3", "h4", "ul", "ol", "li", "blockquote",
    "a", "img", "table", "thead", "tbody", "tr", "th", "td", "span",
})
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})  # and relative URLs (Ammonia keeps them)
# Removed together with everything inside them (the others not allowed lose the tag, keep the text).
DROPPED_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "noscript", "object", "embed", "template", "textarea", "select", "svg", "math",
    "frame", "frameset", "noembed", "xmp", "title", "head",
})
LINK_REL = "noopener noreferrer"

# An <img> left without a source (its data: or javascript: URL was dropped) shows nothing.
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)
_BLOCK_END = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6]|blockquote|tr|table|ul|ol|section|article)>", re.IGNORECASE)
_CELL_END = re.compile(r"</t[hd]>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def clean(html: str) -> str:
    """The allowed part of `html` (a fragment), links with rel="noopener noreferrer"."""
    if not html:
        return ""
    cleaned = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return _IMG_WITHOUT_SRC.sub("", cleaned).strip()


def text_of(html: str) -> str:
    """The plain text of a fragment (lists, notices, search): blocks on their own lines."""
    if not html:
        return ""
    marked = _CELL_END.sub(" ", _BLOCK_END.sub("\n", html))
    text = html_lib.unescape(nh3.clean(marked, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT)))
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n", "\n".join(line for line in lines if line)).strip()


def is_blank(html: str) -> bool:
    """Whether a (cleaned) fragment says nothing: no text and no image (an empty editor's <p><br></p>)."""
    return not text_of(html) and "<img" not in html.lower()
