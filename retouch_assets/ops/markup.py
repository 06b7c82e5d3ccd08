"""Input text made inert in every format the ops layer sends or writes.

Identifiers, versions, scopes and prompts come from manifests, i.e. from whoever can drop a
batch into landing. Wherever they are shown they must read as text and trigger nothing: no
`<!channel>` ping in Slack, no `{code}` or `[text|url]` macro in Jira, no raw HTML, link or
table break in Markdown. Each function here takes any value and returns it escaped for one
format; control characters (a newline could start a new block) become spaces.
"""

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")

# CommonMark lets any ASCII punctuation be backslash-escaped and then shows it as is. These are
# the ones that can start markup in running text (emphasis, code, links, images, raw HTML,
# entities, GFM tables, strikethrough); the rest (`-`, `.`, `/`, `:`, `(` …) is left alone so
# versions such as `rt-2.5` and root causes stay readable, with the exceptions below.
# An `_` inside a word (`colour_fidelity`) never starts emphasis, so it is left as it is.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*{}\[\]<>#+!|~&]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# GFM's extended autolinks (`http://…`, `www.…`): an escaped `:` or `.` breaks them.
_MARKDOWN_AUTOLINK = re.compile(r"(?i)(?<=[a-z])(:)(?=//)|(?<=\bwww)(\.)")
# What starts a block when it opens a line: a list item (`-`, `+`, `1.`, `1)`), a setext
# underline (`=`, `-`), a heading or a quote (escaped above).
_MARKDOWN_LINE_START = re.compile(r"^([-=])|^(\d+)([.)])")

# Slack mrkdwn: `&`, `<` and `>` are the characters Slack asks senders to escape; `<` starts
# every control sequence (`<!channel>`, `<@U123>`, `<http://x|y>`).
_SLACK = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# A grave accent that does not close a code span (U+02CB MODIFIER LETTER GRAVE ACCENT).
_SLACK_BACKTICK = "\u02cb"

# Jira wiki markup (the v2 REST API's description): a backslash before a markup character
# shows it as is (`\{code\}`, `\[text\|url\]`, `\!image\!`). A backslash itself cannot be
# escaped that way (`\\` is a line break), so it becomes an entity, as pandoc's Jira writer
# does; `&` becomes `&amp;` so a literal `&lt;` in the input is not read as an entity.
_JIRA_SPECIAL = frozenset("{}[]!*_|^~+-?#()")
# Jira shows `<` and `>` as text already; as entities they stay text in any HTML export too.
_JIRA_ENTITIES = {"&": "&amp;", "\\": "&#92;", "<": "&lt;", ">": "&gt;"}

# PagerDuty Events v2 limits (https://developer.pagerduty.com/docs/events-api-v2/trigger-events)
PAGERDUTY_SUMMARY_MAX = 1024
PAGERDUTY_DEDUP_KEY_MAX = 255


def plain(value: object) -> str:
    """The value as one line of text: control characters (newlines included) become spaces."""
    return _CONTROL.sub(" ", str(value))


def markdown_text(value: object) -> str:
    """Text for a Markdown paragraph, list item, heading or table cell (`|` is escaped): shows
    the value as is under CommonMark and GFM, whatever it holds."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", plain(value))
    text = _MARKDOWN_AUTOLINK.sub(lambda m: "\\" + (m[1] or m[2]), text)
    return _MARKDOWN_LINE_START.sub(
        lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text, count=1
    )


def markdown_code_block(text: str, info: str = "") -> str:
    """A fenced code block holding `text` verbatim: the fence is longer than any run of
    backticks inside it, so nothing in `text` can close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{plain(info)}\n{text}\n{fence}"


def slack_text(value: object) -> str:
    """Text for a Slack mrkdwn message: `&`, `<`, `>` escaped, so a mention, a channel ping or
    a link in the value shows as text."""
    return "".join(_SLACK.get(c, c) for c in plain(value))


def slack_code(value: object) -> str:
    """The value as a Slack inline code span (a backtick inside it cannot close the span)."""
    return f"`{slack_text(value).replace('`', _SLACK_BACKTICK)}`"


def jira_text(value: object) -> str:
    """Text for Jira wiki markup (a v2 description): macros, links, images, mentions, tables
    and text effects in the value show as text."""
    return "".join(
        _JIRA_ENTITIES.get(c) or (f"\\{c}" if c in _JIRA_SPECIAL else c) for c in plain(value)
    )


def jira_link_target(url: str) -> str:
    """A URL for a Jira `[text|url]` link: the URL comes from configuration, not input, and
    must stay a working link, so only what would end the link (`|`, `]`, `[`) and whitespace
    are percent-encoded; backslash escapes would become part of the address."""
    from urllib.parse import quote

    return quote(plain(url), safe="!#$%&'()*+,-./:;=?@_~")


def truncated(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in `…` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
