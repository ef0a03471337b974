"""What a browser accessibility review checks on a people-facing page, as one call: axe-core's
WCAG 2.1 A and AA rules (axe.min.js as the `axe-playwright-python` wheel ships it, evaluated by
Playwright, so the pages' CSP, which forbids scripts, does not have to change), plus what axe
leaves out: tap targets of at least 44 by 44 CSS px (WCAG 2.5.5, for staff on a phone at
night), no sideways scrolling at the phone's width (1.4.10) nor with text at 200 % (1.4.4),
each radio group in a fieldset with a legend (1.3.1), a `<title>` and a `lang`, and the
keyboard alone: Tab reaches every control, each showing its focus (2.1.1, 2.4.7).

`audit` returns the problems found as short lines (an empty list: none), so one failing page
shows everything at once. `A11Y_SHOTS=<dir>` also saves a full-page screenshot of each state
reviewed, for a person to look at."""

import os
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from playwright.async_api import Page, ViewportSize

PHONE = ViewportSize(width=360, height=740)
SMALL_PHONE = ViewportSize(width=320, height=640)  # WCAG 1.4.10's reflow width
DESKTOP = ViewportSize(width=1280, height=800)
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
MIN_TARGET_PX = 44
SHOTS = os.environ.get("A11Y_SHOTS")  # a directory: `audit_both_sizes` saves screenshots there

# Every control a finger must hit; a radio or checkbox is hit through its label (the whole
# row). A link inside a sentence (its parent has text of its own) is exempt (WCAG 2.5.5's
# "inline" exception); a link standing alone, like a Reload beside a time, is not.
_TARGETS_JS = """
(min) => {
  const seen = [];
  const controls = document.querySelectorAll(
    'button, select, textarea, input:not([type=hidden]), a[href]');
  for (const el of controls) {
    let target = el;
    if (el.matches('input[type=radio], input[type=checkbox]')) {
      target = el.closest('label') || el;
    } else if (el.matches('a') && [...el.parentElement.childNodes].some(
        n => n.nodeType === Node.TEXT_NODE && n.textContent.trim())) {
      continue;  // a link inside a sentence
    }
    const box = target.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;  // not shown
    if (box.width < min - 0.5 || box.height < min - 0.5) {
      const name = (target.innerText || target.getAttribute('name') || target.id || '').trim();
      seen.push(`${target.tagName.toLowerCase()} "${name.slice(0, 30)}" ` +
                `${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return seen;
}
"""

# Whether the focused element shows where the keyboard is: an outline or a box shadow.
_FOCUS_SHOWN_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const shown = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
    || style.boxShadow !== 'none';
  const name = (el.innerText || el.getAttribute('name') || el.id || '').trim().slice(0, 30);
  return {key: el.tagName.toLowerCase() + ' "' + name + '"', shown};
}
"""

# How many Tab stops the page should have: each shown control, a radio group counting once.
_TAB_STOPS_JS = """
() => {
  const shown = [...document.querySelectorAll(
    'a[href], button, select, textarea, input:not([type=hidden])')]
    .filter(e => !e.disabled && e.getClientRects().length > 0);
  const groups = new Set(shown.filter(e => e.type === 'radio').map(e => e.name));
  return shown.filter(e => e.type !== 'radio').length + groups.size;
}
"""


async def keyboard_problems(page: Page) -> list[str]:
    """Tab from the top through the page: each control is reached, in a row of Tab presses,
    and shows where the focus is. A radio group is one stop (arrow keys move inside it)."""
    # The next Tab starts from the top (a blur alone leaves Chrome's starting point where it was).
    await page.evaluate(
        "() => { const b = document.body; b.tabIndex = -1; b.focus();"
        " b.removeAttribute('tabindex'); }"
    )
    expected = await page.evaluate(_TAB_STOPS_JS)
    problems, reached = [], 0
    for _ in range(expected):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(_FOCUS_SHOWN_JS)
        if focused is None:
            break
        reached += 1
        if not focused["shown"]:
            problems.append(f"focus not shown: {focused['key']}")
    if reached < expected:
        problems.append(f"keyboard reached {reached} of {expected} controls")
    return problems


# Radio buttons whose group is not one fieldset with a legend (axe no longer asks for it):
# a screen reader would read "Several days" without the question it answers.
_RADIO_GROUPS_JS = """
() => {
  const bad = new Set();
  for (const radio of document.querySelectorAll('input[type=radio]')) {
    const set = radio.closest('fieldset');
    const legend = set && set.querySelector(':scope > legend');
    const together = set && [...document.querySelectorAll(
      `input[type=radio][name="${radio.name}"]`)].every(r => r.closest('fieldset') === set);
    if (!legend || !legend.textContent.trim() || !together) bad.add(radio.name);
  }
  return [...bad];
}
"""


@cache
def _axe_source() -> str:
    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


async def axe_violations(page: Page) -> list[str]:
    """axe's WCAG 2.1 A/AA violations on the page as it is: `rule: selector` lines."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(_axe_source())
    results: dict[str, Any] = await page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        list(AXE_TAGS),
    )
    return [
        f"{v['id']}: {', '.join(str(t) for n in v['nodes'] for t in n['target'])}"
        for v in results["violations"]
    ]


async def audit(page: Page) -> list[str]:
    """Everything `axe_violations` finds, plus small tap targets, radio groups without a
    fieldset and legend, sideways scrolling at the viewport's width, and a missing title or
    `lang`."""
    problems = await axe_violations(page)
    problems += [f"target under 44px: {t}" for t in await page.evaluate(_TARGETS_JS, MIN_TARGET_PX)]
    problems += [
        f"radio group without fieldset and legend: {n}"
        for n in await page.evaluate(_RADIO_GROUPS_JS)
    ]
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    if viewport is not None and width > viewport["width"]:
        problems.append(f"scrolls sideways: {width}px wide at {viewport['width']}px")
    if not (await page.title()).strip():
        problems.append("no title")
    if not await page.evaluate("document.documentElement.lang"):
        problems.append("no lang")
    return problems


async def large_text_problems(page: Page) -> list[str]:
    """The page with its text at 200% (WCAG 1.4.4, a phone's large-text setting): nothing
    scrolls sideways. The text size is put back afterwards."""
    await page.evaluate("document.documentElement.style.fontSize = '200%'")
    try:
        width = await page.evaluate("document.documentElement.scrollWidth")
        viewport = page.viewport_size
        if viewport is not None and width > viewport["width"]:
            return [f"scrolls sideways: {width}px wide at {viewport['width']}px"]
        return []
    finally:
        await page.evaluate("document.documentElement.style.fontSize = ''")


async def audit_both_sizes(page: Page, state: str) -> list[str]:
    """`audit` at the phone's size and the desktop's (the page is left at the phone's), each
    problem prefixed with `state` and the width."""
    found = [f"{state} 360: {p}" for p in await audit(page)]
    found += [f"{state} keyboard: {p}" for p in await keyboard_problems(page)]
    if SHOTS:  # a person looks too: one full-page picture per state and language
        lang = await page.evaluate("document.documentElement.lang")
        name = re.sub(r"[^a-z0-9]+", "-", f"{lang}-{state}".lower()).strip("-")
        await page.screenshot(path=Path(SHOTS) / f"{name}.png", full_page=True)
    found += [f"{state} 360, text 200%: {p}" for p in await large_text_problems(page)]
    await page.set_viewport_size(DESKTOP)
    found += [f"{state} 1280: {p}" for p in await audit(page)]
    await page.set_viewport_size(PHONE)
    return found


async def audit_small_phone(page: Page, state: str) -> list[str]:
    """`audit` at 320 px (1.4.10's reflow width), then at 320 px with text at 200 % (1.4.4 on
    the smallest phone); the page is left at the usual phone's size."""
    await page.set_viewport_size(SMALL_PHONE)
    try:
        found = [f"{state} 320: {p}" for p in await audit(page)]
        found += [f"{state} 320, text 200%: {p}" for p in await large_text_problems(page)]
    finally:
        await page.set_viewport_size(PHONE)
    return found
