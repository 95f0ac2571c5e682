"""Drives the web UI in Debian's chromium (playwright only steers it):
signs in with the API token (the environment's UI_TOKEN), loads each view,
checks what it shows, clicks Retry on the failed job, takes a screenshot of
each view, and signs out. Prints one JSON object of what it saw.

    UI_TOKEN=... ui_check.py BASE_URL SCREENSHOT_DIR
"""

import json
import os
import sys

from playwright.sync_api import sync_playwright

base, shots = sys.argv[1], sys.argv[2]
seen = {}

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    # A viewer far from UTC: times must be shown in their zone.
    page = browser.new_context(
        viewport={"width": 1280, "height": 860}, timezone_id="Asia/Shanghai", locale="en-GB"
    ).new_page()

    seen["before_sign_in_status"] = page.goto(f"{base}/ui/streams").status
    page.goto(f"{base}/ui/login")
    page.fill("input[name=token]", os.environ["UI_TOKEN"])
    page.locator("button", has_text="Sign in").click()
    page.wait_for_load_state()
    seen["after_sign_in_url"] = page.url

    page.goto(f"{base}/ui/streams")
    seen["streams"] = page.inner_text("main")
    page.screenshot(path=f"{shots}/ui-streams.png", full_page=True)

    page.goto(f"{base}/ui/recordings")
    seen["recordings"] = page.inner_text("main")
    seen["videos"] = page.locator("video").count()
    seen["downloads"] = [a.inner_text() for a in page.locator("a[download]").all()]
    seen["times"] = [t.inner_text() for t in page.locator("time").all()]
    seen["datetimes"] = [t.get_attribute("datetime") for t in page.locator("time").all()]
    page.screenshot(path=f"{shots}/ui-recordings.png", full_page=True)

    page.goto(f"{base}/ui/jobs")
    seen["jobs"] = page.inner_text("main")
    seen["progress"] = [
        [b.get_attribute("value"), b.get_attribute("max")] for b in page.locator("progress").all()
    ]
    page.screenshot(path=f"{shots}/ui-jobs.png", full_page=True)
    seen["retry_buttons"] = page.locator("button", has_text="Retry").count()
    if seen["retry_buttons"]:
        page.locator("button", has_text="Retry").first.click()
        page.wait_for_load_state()
        seen["after_retry_url"] = page.url
        seen["after_retry"] = page.inner_text("main")

    page.goto(f"{base}/ui/rejected")
    seen["rejected"] = page.inner_text("main")
    seen["replay_buttons"] = page.locator("button", has_text="Replay").count()
    page.screenshot(path=f"{shots}/ui-rejected.png", full_page=True)

    page.locator("button", has_text="Sign out").click()
    page.wait_for_load_state()
    seen["after_sign_out_url"] = page.url
    seen["after_sign_out_status"] = page.goto(f"{base}/ui/jobs").status
    browser.close()

print(json.dumps(seen))
