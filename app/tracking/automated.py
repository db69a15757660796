"""Telling mail scanners from people, for clicks and opens.

Mail security gateways fetch every link (and often every image) of a message when it
arrives, before anyone reads it; link-preview services and scripts do the same later.
Their hits are kept, marked `automated` with the reason, and human figures leave them
out. The rules, and why:

- HEAD: browsers follow links and load images with GET; HEAD is a program checking
  that a link works. Never a human event.
- A known scanner's user agent (the list below). Only the product's name is kept, as
  the reason; the user agent itself is not stored, nor the client's address.
- Clicks only: a click within `tracking_scanner_window_seconds` (default 10) of the
  relay accepting the message (or before the send was even recorded). Nobody reads
  and clicks that fast; gateways that rewrite links (Microsoft Defender Safe Links,
  Mimecast, Proofpoint URL Defense, Barracuda) fetch them at delivery, usually with an
  ordinary browser's user agent, so timing catches them where the list cannot.
- Clicks only: every link of a message followed within
  `tracking_burst_window_seconds` (default 2). A person follows one link, then maybe
  another much later; a scanner follows all of them at once. All those clicks are
  marked, the earlier ones too.

Opens are judged on HEAD and the list only. Image proxies that fetch the pixel when
the person opens the message (Gmail's GoogleImageProxy, Yahoo's) are real opens, so
they are not on the list for opens; timing would wrongly mark someone who reads mail
as it arrives, so it is not used for opens. Apple Mail Privacy Protection loads images
for every message on delivery, with nothing in the request to tell it apart without the
client's address (which is not kept), so open counts are an upper bound and the reports
should say so. A click through an image proxy cannot happen, so for clicks the proxies
count as automated.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

# What security gateways, link checkers and preview bots put in their User-Agent,
# matched case-insensitively anywhere in it. Collected from the bot-click reports of
# mail tools that met the same problem (e.g. github.com/mautic/mautic issues 9798 and
# 16263, github.com/resend/resend-node issue 901) and from the products' names for
# their own fetchers. Many gateways send a browser's user agent instead; the timing
# rules are there for them. Extend the list when the automated-click report shows a
# product that gets through.
SCANNER_AGENTS: tuple[tuple[str, str], ...] = (
    ("barracuda", "Barracuda"),
    ("proofpoint", "Proofpoint"),
    ("mimecast", "Mimecast"),
    ("messagelabs", "Symantec MessageLabs"),
    ("symantec", "Symantec"),
    ("forcepoint", "Forcepoint"),
    ("trendmicro", "Trend Micro"),
    ("trend micro", "Trend Micro"),
    ("ironport", "Cisco IronPort"),
    ("sophos", "Sophos"),
    ("fireeye", "FireEye"),
    ("fortiguard", "Fortinet"),
    ("zscaler", "Zscaler"),
    ("avanan", "Check Point Avanan"),
    ("hornetsecurity", "Hornetsecurity"),
    ("spamtitan", "SpamTitan"),
    ("vadesecure", "Vade Secure"),
    # Microsoft: Outlook.com's and Teams' link previews, Office checking that a link
    # exists before opening it. Defender Safe Links sends a browser's user agent.
    ("bingpreview", "Microsoft link preview"),
    ("microsoft office existence discovery", "Microsoft Office link check"),
    ("skypeuripreview", "Microsoft Teams/Skype link preview"),
    # Link previews in chat and social apps (a forwarded alert), and search crawlers.
    ("slackbot", "Slack link preview"),
    ("facebookexternalhit", "Facebook link preview"),
    ("twitterbot", "X/Twitter link preview"),
    ("linkedinbot", "LinkedIn link preview"),
    ("whatsapp", "WhatsApp link preview"),
    ("telegrambot", "Telegram link preview"),
    ("discordbot", "Discord link preview"),
    ("googlebot", "Googlebot"),
    ("bingbot", "Bingbot"),
    ("headlesschrome", "headless browser"),
    ("phantomjs", "headless browser"),
    # Scripts.
    ("python-requests", "script (python-requests)"),
    ("python-urllib", "script (Python urllib)"),
    ("python-httpx", "script (httpx)"),
    ("aiohttp", "script (aiohttp)"),
    ("curl/", "script (curl)"),
    ("wget/", "script (wget)"),
    ("go-http-client", "script (Go)"),
    ("okhttp", "script (OkHttp)"),
    ("libwww-perl", "script (Perl)"),
    ("java/", "script (Java)"),
    ("apache-httpclient", "script (Java)"),
)

# Fetch images when the person opens the message: opens, not scanners.
IMAGE_PROXY_AGENTS: tuple[tuple[str, str], ...] = (
    ("googleimageproxy", "Google image proxy"),
    ("yahoomailproxy", "Yahoo image proxy"),
)


@dataclass(frozen=True)
class Request:
    """What the rules look at: nothing of it is stored."""

    method: str
    user_agent: str


def _agent_name(user_agent: str, agents: tuple[tuple[str, str], ...]) -> str | None:
    lowered = user_agent.lower()
    return next((name for needle, name in agents if needle in lowered), None)


def _by_request(request: Request) -> str | None:
    if request.method == "HEAD":
        return "HEAD request"
    if not request.user_agent.strip():
        return "no user agent"
    if (name := _agent_name(request.user_agent, SCANNER_AGENTS)) is not None:
        return f"scanner: {name}"
    return None


def open_reason(request: Request) -> str | None:
    """Why an open is automated, or None for a person's."""
    return _by_request(request)


def click_reason(
    request: Request, *, sent_at: datetime | None, now: datetime, window_seconds: int
) -> str | None:
    """Why a click is automated, or None for a person's (the burst rule needs the
    message's other clicks, see clicks.mark_bursts)."""
    if (reason := _by_request(request)) is not None:
        return reason
    if (name := _agent_name(request.user_agent, IMAGE_PROXY_AGENTS)) is not None:
        return f"scanner: {name}"
    if sent_at is None:
        # Sends are recorded every few dozen messages, so a scanner at the recipient's
        # gateway can be faster than the record; a person cannot.
        return "before the send was recorded"
    if now - sent_at < timedelta(seconds=window_seconds):
        return f"within {window_seconds} s of sending"
    return None


def burst_reason(window_seconds: float) -> str:
    return f"every link within {window_seconds:g} s"
