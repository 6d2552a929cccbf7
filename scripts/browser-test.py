#!/usr/bin/env python3
"""The web album's story in real headless Chromium, keyboard only.

alice shares a photo; bob finds her online, browses her previews and asks for
2 views; alice approves; bob's inbox shows the photo as it arrives (server-sent
events, no reload); bob views it twice (the page shows the original bytes) and
the third view is refused; alice grants one more and bob views again. A
request without the token gets 401, and the pages fit a phone's width.
Each step saves a screenshot in --out. Exits non-zero at the first failure.
"""
import argparse
import base64
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--alice", required=True, help="alice's page URL, with its token")
parser.add_argument("--bob", required=True, help="bob's page URL, with its token")
parser.add_argument("--photo", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
original = open(args.photo, "rb").read()
step = 0


def check(condition, what):
    if not condition:
        print(f"browser test: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"  ok  {what}")


def browser(width=1100, height=1300):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(120)
    return driver


def shot(driver, name):
    global step
    step += 1
    path = f"{args.out}/{step:02d}-{name}.png"
    driver.save_screenshot(path)


def origin(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def wait(driver, condition, what, seconds=60):
    # A page that reloads itself (after a form, or on a live event) while the condition reads it makes its
    # elements stale: that is a "not yet", not a failure (CI once failed here with the page showing the photo).
    try:
        WebDriverWait(driver, seconds, poll_frequency=0.1,
                      ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(lambda d: condition(d))
    except Exception:
        shot(driver, "failed")
        check(False, what)
    check(True, what)


def press(element, key=Keys.ENTER):
    """Keyboard only: the element takes the focus and the key."""
    element.send_keys(key)


def wider(driver):
    """What sticks out past the window's right edge, if anything (for the failure's message)."""
    found = driver.execute_script("""
        return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
            .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().width) + 'px to ' + Math.round(e.getBoundingClientRect().right) + ' of ' + window.innerWidth);""")
    return f" (wider: {', '.join(found)})" if found else ""


def text(driver):
    return driver.find_element(By.TAG_NAME, "main").text


# Without the token: 401, and nothing of the page.
try:
    # To 127.0.0.1 with the page's host name: Python does not resolve *.localhost as browsers do.
    port = urllib.parse.urlsplit(args.alice).port
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/album",
                                                  headers={"Host": urllib.parse.urlsplit(args.alice).netloc}), timeout=30)
    check(False, "a request without the token gets 401")
except urllib.error.HTTPError as error:
    check(error.code == 401, f"a request without the token gets 401 (got {error.code})")

alice, bob = browser(), browser()
try:
    A, B = origin(args.alice), origin(args.bob)
    alice.get(args.alice)
    check("token=" not in alice.current_url, "the token leaves the address bar")
    bob.get(args.bob)

    # alice first picks a file that is not a photo: the page says so, and shares nothing.
    alice.get(A + "/album")
    junk = f"{args.out}/notes.txt"
    open(junk, "w").write("not a photo\n")
    alice.find_element(By.ID, "file").send_keys(junk)
    press(alice.find_element(By.CSS_SELECTOR, "#share button"))
    wait(alice, lambda d: "Not shared: that is not a photo" in d.find_element(By.ID, "news").text, "a file that is not a photo is refused, in words")
    check("No photos yet" in text(alice), "and nothing is shared")

    # alice shares a photo.
    alice.get(A + "/album")
    alice.find_element(By.ID, "file").send_keys(args.photo)
    title = alice.find_element(By.ID, "title")
    title.send_keys("chelsea the cat")
    press(alice.find_element(By.CSS_SELECTOR, "#share button"))
    wait(alice, lambda d: "chelsea the cat" in text(d) and d.find_elements(By.CSS_SELECTOR, "li.photo img"),
         "alice's album shows the photo she shared")
    wait(alice, lambda d: d.execute_script("const i = document.querySelector('li.photo img'); return i.complete && i.naturalWidth > 0"),
         "its preview is drawn")
    photo = alice.find_element(By.CSS_SELECTOR, "li.photo").get_attribute("id").removeprefix("photo-")
    shot(alice, "alice-album")

    # bob sees alice online, browses her previews, asks for 2 views.
    bob.get(B + "/people")
    wait(bob, lambda d: d.find_elements(By.LINK_TEXT, "alice"), "bob sees alice online")
    shot(bob, "bob-people")
    press(bob.find_element(By.LINK_TEXT, "alice"))
    wait(bob, lambda d: "chelsea the cat" in text(d), "bob sees alice's preview")
    shot(bob, "bob-browses-alice")
    views = bob.find_element(By.ID, f"views-{photo}")
    views.send_keys(Keys.CONTROL, "a")
    views.send_keys("2")
    press(views)   # Enter in a field submits its form
    wait(bob, lambda d: "Asked alice for 2 views" in d.page_source, "bob's request is sent")
    shot(bob, "bob-asked")

    # bob waits on his inbox; alice approves with 2 views.
    bob.get(B + "/inbox")
    wait(bob, lambda d: d.execute_script("return document.readyState") == "complete", "bob's inbox is open")
    alice.get(A + "/requests")
    wait(alice, lambda d: "bob asks for 2 views" in text(d), "alice sees bob's request")
    shot(alice, "alice-requests")
    press(alice.find_element(By.XPATH, "//button[text()='Approve']"))
    wait(alice, lambda d: "Sent the photo to bob with 2 views" in d.page_source, "alice approves with 2 views", seconds=120)
    shot(alice, "alice-approved")
    wait(bob, lambda d: "2 views left" in text(d), "bob's open inbox shows the photo as it arrives (no reload)")
    shot(bob, "bob-inbox-live")

    def view(expect_left):
        bob.get(B + "/inbox")
        press(bob.find_element(By.XPATH, f"//li[@id='photo-{photo}']//button"))
        if expect_left is None:
            wait(bob, lambda d: "no views left" in d.page_source, "the third view is refused")
            check(not bob.find_elements(By.ID, "photo"), "and no photo is shown")
            return
        wait(bob, lambda d: d.find_elements(By.ID, "photo"), f"bob views the photo ({expect_left} left)")
        wait(bob, lambda d: d.execute_script("const i = document.getElementById('photo'); return i.complete && i.naturalWidth > 0"),
             "the photo is drawn")
        src = bob.find_element(By.ID, "photo").get_attribute("src")
        check(base64.b64decode(src.split(",", 1)[1]) == original, "the page shows the original photo, byte for byte")
        check(bob.find_element(By.ID, "views-left").text == str(expect_left), f"{expect_left} view(s) left")

    view(1)
    shot(bob, "bob-views")
    view(0)
    view(None)
    shot(bob, "bob-refused")

    # alice grants one more; bob views again.
    alice.get(A + "/album")
    to = alice.find_element(By.ID, f"to-{photo}")
    to.send_keys("bob")
    more = alice.find_element(By.ID, f"views-{photo}")
    more.send_keys(Keys.CONTROL, "a")
    more.send_keys("1")
    press(more)
    wait(alice, lambda d: "bob may view it 1 more time" in d.page_source, "alice grants bob one more view")
    shot(alice, "alice-grants")
    for _ in range(50):
        bob.get(B + "/inbox")
        if "1 view left" in text(bob):
            break
        time.sleep(0.1)
    view(0)
    shot(bob, "bob-views-again")

    # A phone's width: nothing wider than the screen.
    bob.set_window_size(390, 844)
    for path in ("/inbox", "/people", "/requests"):
        bob.get(B + path)
        fits = bob.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        check(fits, f"{path} fits a phone's width" + ("" if fits else wider(bob)))
    shot(bob, "bob-phone-inbox")
    alice.set_window_size(390, 844)
    alice.get(A + "/album")
    shot(alice, "alice-phone-album")
    check(alice.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"),
          "/album fits a phone's width" + wider(alice))
finally:
    alice.quit()
    bob.quit()
os.remove(f"{args.out}/notes.txt")
print(f"browser test: the whole story passed; {step} screenshots in {args.out}")
