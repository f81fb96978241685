"""Drives the daemon's web UI in headless Chromium (Playwright, pointed at Debian's chromium).

Arguments: the daemon's URL, USER:PASS, the .torrent to drop, a directory for screenshots.
Drops the .torrent on the page, adds it, waits for 100 %, deselects a file (the daemon may
answer "not supported": then the error must be shown), stops and removes it.
"""
import base64
import pathlib
import sys

from playwright.sync_api import sync_playwright

url, credentials, torrent, shots = sys.argv[1:5]
user, password = credentials.split(":", 1)
shots = pathlib.Path(shots)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DROP = """(b64) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'share.torrent', {type: 'application/x-bittorrent'}));
    return dt;
}"""

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  http_credentials={"username": user, "password": password})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())  # the "Remove …?" confirmation
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        page.wait_for_selector("#empty:visible")

        data = base64.b64encode(pathlib.Path(torrent).read_bytes()).decode()
        page.dispatch_event("main", "drop", {"dataTransfer": page.evaluate_handle(DROP, data)})
        page.wait_for_selector("#add-files li >> nth=1")
        assert page.locator("#add-files li").count() == 2
        page.fill("#add-labels", "demo, linux")
        page.screenshot(path=shots / "add.png")
        page.click("#add-submit")
        row = page.locator("#list tbody tr", has_text="share")
        row.locator("[role=progressbar][aria-valuenow='100']").wait_for()
        assert "Seeding" in row.inner_text(), row.inner_text()
        assert "demo, linux" in row.inner_text(), row.inner_text()
        page.select_option("#filter-label", "linux")
        page.fill("#search", "shar")
        page.screenshot(path=shots / "desktop.png")
        page.screenshot(path=shots / "webui.png", clip={"x": 0, "y": 0, "width": 1280, "height": 240})
        page.select_option("#filter-state", "stopped")
        assert row.count() == 0
        page.select_option("#filter-state", "")
        page.fill("#search", "")

        row.locator("button.link").click()
        page.wait_for_selector(".tree .file >> nth=1")
        box = page.locator('[aria-label="Download share/b.bin"]')
        assert box.is_checked()
        box.click()
        page.wait_for_function("""() => !document.querySelector('#error').hidden
            || !document.querySelector('[aria-label="Download share/b.bin"]').checked""")
        if page.is_visible("#error"):
            message = page.inner_text("#error-text")
            assert "not offer" in message or "not supported" in message, message
            print("deselect refused, shown:", message)
        page.screenshot(path=shots / "details.png")
        page.click("[data-tab=trackers]")
        page.wait_for_selector("#details-body >> text=http://127.0.0.1:1/announce")
        page.click("[data-tab=info]")
        page.wait_for_selector("#details-body dt >> text=Hash")
        page.click("[data-tab=files]")
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=shots / "phone-details.png")
        page.keyboard.press("Escape")
        page.screenshot(path=shots / "phone.png")
        page.set_viewport_size({"width": 1280, "height": 800})
        page.click("#open-settings")
        page.wait_for_selector("#version >> text=sanstorrent")
        page.screenshot(path=shots / "settings.png")
        page.keyboard.press("Escape")

        row.locator("input[type=checkbox]").check()
        page.click("[data-act=torrent_stop]")
        row.locator("text=Stopped").wait_for()
        page.click("[data-act=remove]")
        page.wait_for_selector("#empty:visible")
        assert page.locator("#list tbody tr").count() == 0
        assert not errors, errors
        print("web ui ok")
    except Exception:
        page.screenshot(path=shots / "failure.png")
        raise
    finally:
        browser.close()
