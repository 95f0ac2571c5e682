"""Drives the web UI in Debian's chromium (playwright only steers it) at
1280x900: asks for /ui/jobs unsigned and signs in from where that leads
with the API token (the environment's UI_TOKEN), loads each view, checks
what it shows and that nothing runs past the window, plays an MP4 and an
HLS recording, pages and filters the recordings, dismisses one failed job
and retries the others, takes a screenshot of each view, and signs out.
Prints one JSON object of what it saw.

    UI_TOKEN=... UI_DISMISS=<file name> ui_check.py BASE_URL SCREENSHOT_DIR
"""

import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

base, shots = sys.argv[1], sys.argv[2]
seen = {}

# How far the page reaches to the right: past the window means scrolling sideways.
WIDTH = "() => document.scrollingElement.scrollWidth"
# A player that plays: data for the current frame at least, or time moving on.
PLAYING = "() => { const v = document.querySelector('video'); \
return !!v && (v.readyState >= 2 || v.currentTime > 0); }"


def wait_for(page, predicate, seconds):
    """Whether `predicate` (a function's source) comes true within `seconds`.
    Polled with evaluate: the page's CSP refuses the eval wait_for_function uses."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if page.evaluate(predicate):
            return True
        time.sleep(0.1)
    return False


def playing(page, selector):
    """Clicks the first `selector` Play button; whether its player came to play."""
    page.locator(selector).first.click()
    if not wait_for(page, PLAYING, 30):
        return {"playing": False, "state": page.evaluate(
            "() => { const v = document.querySelector('video'); return v && "
            "{readyState: v.readyState, error: v.error && v.error.message, src: v.src}; }")}
    return page.evaluate(
        "() => { const v = document.querySelector('video'); return {playing: true, "
        "readyState: v.readyState, videoWidth: v.videoWidth, videos: "
        "document.querySelectorAll('video').length}; }"
    )


def rows(page):
    """The stream and start of each recording row shown."""
    return [r.inner_text() for r in page.locator("table.recs tr:has(td)").all()]


with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
    )
    # A viewer far from UTC: times must be shown in their zone.
    page = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Asia/Shanghai", locale="en-GB"
    ).new_page()

    first = page.goto(f"{base}/ui/jobs")
    seen["before_sign_in_status"] = first.status
    seen["before_sign_in_url"] = page.url
    page.fill("input[name=token]", os.environ["UI_TOKEN"])
    page.locator("button", has_text="Sign in").click()
    page.wait_for_load_state()
    seen["after_sign_in_url"] = page.url

    page.goto(f"{base}/ui/streams")
    seen["streams"] = page.inner_text("main")

    page.goto(f"{base}/ui/recordings")
    seen["recordings"] = page.inner_text("main")
    seen["recordings_width"] = page.evaluate(WIDTH)
    seen["headings"] = [h.inner_text() for h in page.locator("main h2").all()]
    seen["videos_before_play"] = page.locator("video").count()
    seen["play_buttons"] = page.locator("button.play").count()
    seen["downloads"] = [a.inner_text() for a in page.locator("a[download]").all()]
    seen["times"] = [t.inner_text() for t in page.locator("time").all()]
    seen["sources_menu"] = [o.inner_text() for o in page.locator("select[name=source] option").all()]
    thumb = page.locator("img.thumb").first
    thumb.scroll_into_view_if_needed()
    wait_for(page, "() => [...document.querySelectorAll('img.thumb')].every(i => i.complete)", 15)
    seen["thumbnails"] = page.evaluate(
        "() => [...document.querySelectorAll('img.thumb')].map(i => i.naturalWidth)"
    )
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=f"{shots}/ui-recordings.png", full_page=True)
    seen["mp4"] = playing(page, "button.play[data-src]")
    page.goto(f"{base}/ui/recordings")
    seen["hls"] = playing(page, "button.play[data-hls]")

    # Two to a page: Next reaches every row, Previous comes back.
    page.goto(f"{base}/ui/recordings?limit=2")
    paged = [rows(page)]
    while page.locator("a.next").count() and len(paged) < 20:
        page.locator("a.next").click()
        page.wait_for_load_state()
        paged.append(rows(page))
    seen["pages"] = paged
    page.locator("a.previous").click()
    page.wait_for_load_state()
    seen["previous"] = rows(page)

    page.goto(f"{base}/ui/recordings")
    page.select_option("select[name=source]", "jd")
    page.fill("input[name=prefix]", "room2")
    page.locator("button", has_text="Filter").click()
    page.wait_for_load_state()
    seen["filtered_url"] = page.url
    seen["filtered"] = rows(page)
    page.fill("input[name=prefix]", "")
    page.fill("input[name=from]", "2025-12-02")
    page.locator("button", has_text="Filter").click()
    page.wait_for_load_state()
    seen["from_later"] = page.inner_text("main")
    page.fill("input[name=from]", "2025-12-01")
    page.fill("input[name=to]", "2025-12-01")
    page.locator("button", has_text="Filter").click()
    page.wait_for_load_state()
    seen["on_the_day"] = rows(page)

    page.goto(f"{base}/ui/jobs")
    seen["jobs"] = page.inner_text("main")
    seen["jobs_width"] = page.evaluate(WIDTH)
    seen["failed_rows"] = [
        r.inner_text() for r in page.locator("table.failed tr:has(td)").all()
    ]
    seen["retry_right_edges"] = [
        b.bounding_box()["x"] + b.bounding_box()["width"]
        for b in page.locator("button", has_text="Retry").all()
    ]
    seen["progress"] = [
        [b.get_attribute("value"), b.get_attribute("max")] for b in page.locator("progress").all()
    ]
    page.screenshot(path=f"{shots}/ui-jobs.png", full_page=True)
    seen["done_link"] = page.locator("a[href^='/ui/recordings?job=']", has_text="c.flv").get_attribute("href")
    seen["retry_buttons"] = page.locator("button", has_text="Retry").count()
    # Each click just after a load: the page reloads itself every 3 s
    # while a transfer runs.
    dismiss = os.environ["UI_DISMISS"]
    page.goto(f"{base}/ui/jobs")
    with page.expect_navigation(url="**/ui/jobs"):
        page.locator("tr", has_text=dismiss).locator("button", has_text="Dismiss").click()
    seen["after_dismiss_url"] = page.url
    seen["after_dismiss"] = page.inner_text("main")
    page.goto(f"{base}/ui/jobs")
    with page.expect_navigation(url="**/ui/jobs"):
        page.locator("button", has_text="Retry all failed").click()
    seen["after_retry_url"] = page.url
    seen["after_retry"] = page.inner_text("main")

    page.goto(f"{base}{seen['done_link']}")
    seen["entry_of_done_job"] = rows(page)

    page.goto(f"{base}/ui/rejected")
    seen["rejected"] = page.inner_text("main")
    seen["replay_buttons"] = page.locator("button", has_text="Replay").count()
    page.screenshot(path=f"{shots}/ui-rejected.png", full_page=True)

    page.locator("button", has_text="Sign out").click()
    page.wait_for_load_state()
    seen["after_sign_out_url"] = page.url
    seen["after_sign_out_status"] = page.goto(f"{base}/ui/jobs").status
    seen["after_sign_out_landing"] = page.url
    browser.close()

print(json.dumps(seen))
