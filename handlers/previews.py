"""The link preview under a pushed story card, from the story and the chat's preview mode.

    off    no preview
    small  a small preview of the story's picture (`Story.image_url`), else of its link
    large  the same, large and above the text

Telegram fetches the previewed page itself; when it cannot (a picture gone, a host that does
not answer), it refuses the message with a 400 that `refused_preview` recognises, and the
sender sends the card again without a preview (`NO_PREVIEW`): a picture never costs a push.
"""

from __future__ import annotations

from telegram import LinkPreviewOptions
from telegram.error import BadRequest

from news.model import PreviewMode, Story

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

# What Telegram says when it cannot make the preview it was asked for: its WEBPAGE_* errors
# ("WEBPAGE_CURL_FAILED", "WEBPAGE_MEDIA_EMPTY") and the wording of its URL checks.
_REFUSALS = (
    "webpage",
    "web page",
    "wrong file identifier/http url",
    "failed to get http url content",
    "wrong http url",
    "link preview",
)


def link_preview(story: Story, mode: PreviewMode) -> LinkPreviewOptions:
    """The preview options of `story`'s card in a chat that wants `mode`."""
    url = story.image_url or story.link
    if mode == "off" or not url:
        return NO_PREVIEW
    if mode == "large":
        return LinkPreviewOptions(url=url, prefer_large_media=True, show_above_text=True)
    return LinkPreviewOptions(url=url, prefer_small_media=True)


def refused_preview(error: BadRequest, preview: LinkPreviewOptions | None) -> bool:
    """Whether Telegram refused a message for its preview (so it goes again without one)."""
    if preview is None or preview.is_disabled:
        return False
    reason = str(error).lower()
    return any(refusal in reason for refusal in _REFUSALS)
