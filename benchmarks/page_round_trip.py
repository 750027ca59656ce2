"""The round trip of the page of ``GET /``, in a real headless Chromium: from the user's action to the
model's answer on the page.

Starts ``python -m pipeline serve TASK --model MODEL`` on a free port, opens its page in the system's
Chromium (Playwright with ``executable_path``: no browser download) and, by the page's mode:

* a form (churn) or a text box (sentiment, topics): fills it and submits it from the keyboard
  (Enter in the form, Ctrl+Enter in the text box; ``--click``: the button) ``--requests`` times
  (after ``--warmup`` more), the texts or values varying from one request to the next;
* next-word suggestions: types prompts key by key, ``--key-delay`` ms apart, until ``--requests``
  suggestions have been shown; a keystroke typed while a request is out is answered with the next
  one, and counted from that keystroke.

Prints the median, p95 and max of two figures:

* ``in the page``: from the event (the submit, or the keystroke) to the answer written into the
  page's DOM, by ``performance.now()`` in the page (``window.pageTimings``): what a user waits for,
  less the browser's next paint (a frame at most);
* ``seen by Playwright`` (form and text box only): from the Python call that presses the key (or
  clicks) to the answer found in the DOM, which adds Playwright's own round trips to the browser.

A click costs the page about a frame more than a key (Chromium runs the fetch's answer after the
frame that follows a click), so the two are kept apart.

    python benchmarks/page_round_trip.py sentiment --model models/sentiment/lstm
    python benchmarks/page_round_trip.py topics --model models/topics/gru --requests 100
    python benchmarks/page_round_trip.py nextword --model models/nextword/lstm
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.commands.bench_server import start_server, wait_healthy  # noqa: E402
from pipeline.commands.browser import find_chromium, launch  # noqa: E402

TEXTS = [  # plain English: every task's vocabulary knows most of these words
    "the film was a great surprise and the actors were wonderful",
    "a dull story with weak acting and a plot that makes no sense at all",
    "shares of the company rose after it reported higher quarterly profit",
    "oil prices fell as crude stocks grew more than expected last week",
    "the government said trade talks would continue next month",
    "i would not watch it again even if it were free",
    "the bank agreed to buy the smaller lender for cash and stock",
    "to be or not to be that is the question",
]
PROMPTS = [
    "to be or not to be that is the question",
    "the king is dead and the queen is",
    "what a piece of work is a man",
    "there is something rotten in the state of",
]
SETTLED = "sent === 0 || document.querySelector('#result').dataset.answered === String(sent)"


def stats(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{np.median(a):8.2f} {np.percentile(a, 95):8.2f} {a.max():8.2f}   (n={len(a)})"


def submit_rounds(tab, mode: str, total: int, click: bool) -> list[float]:
    """Fill and submit ``total`` times; the Python-side time of each (ms)."""
    outer = []
    numeric = tab.evaluate("config.fields ? config.fields.filter(f => f.type === 'number') : []")
    for i, text in zip(range(total), itertools.cycle(TEXTS), strict=False):
        if mode == "form":
            field = numeric[i % len(numeric)]
            low, high = field["min"], field["max"]
            value = low + (high - low) * ((i * 37) % 100) / 100
            target, key = f"#f-{field['name']}", "Enter"
            tab.fill(target, str(round(value) if field["integer"] else value))
        else:
            target, key = "#text", "Control+Enter"
            tab.fill(target, f"{text} {i}")
        answered = tab.evaluate("sent") + 1
        started = time.perf_counter()
        if click:
            tab.click("#submit")
        else:
            tab.press(target, key)
        tab.wait_for_selector(f'#result[data-answered="{answered}"]', state="attached")
        outer.append(1000 * (time.perf_counter() - started))
    if tab.is_visible("#error"):
        sys.exit(f"the server refused the page's request: {tab.text_content('#error')}")
    return outer


def typing_rounds(tab, total: int, key_delay_ms: float) -> None:
    """Type prompts key by key until ``total`` answers are on the page."""
    for prompt in itertools.cycle(PROMPTS):
        tab.fill("#text", "")
        tab.type("#text", prompt, delay=key_delay_ms)
        tab.wait_for_function(SETTLED)
        if tab.is_visible("#error"):
            sys.exit(f"the server refused the page's request: {tab.text_content('#error')}")
        if tab.evaluate("window.pageTimings.length") >= total:
            return


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task")
    parser.add_argument("--model", help="a model directory or MLflow URI (default: models:/TASK@champion)")
    parser.add_argument("--requests", type=int, default=200, help="timed answers (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="answers before timing (default 20)")
    parser.add_argument("--key-delay", type=float, default=80, help="next word: ms between keys (default 80)")
    parser.add_argument("--click", action="store_true", help="form and text box: click the button, not a key")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        sys.exit("no Chromium found: apt-get install chromium, or set $CHROMIUM to a binary")
    model = args.model or f"models:/{args.task}@champion"
    proc, url = start_server(args.task, model)
    try:
        wait_healthy(url)
        with sync_playwright() as playwright:
            browser = launch(playwright, executable)
            tab = browser.new_page()
            tab.goto(url + "/")
            mode = tab.evaluate("config.mode")
            if mode == "next_word":
                typing_rounds(tab, args.warmup, args.key_delay)
                tab.evaluate("window.pageTimings = []")
                typing_rounds(tab, args.requests, args.key_delay)
                outer = []
            else:
                submit_rounds(tab, mode, args.warmup, args.click)
                tab.evaluate("window.pageTimings = []")
                outer = submit_rounds(tab, mode, args.requests, args.click)
            inner = tab.evaluate("window.pageTimings")
            version = browser.version
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"page round trip: {args.task} ({mode}) from {model}, Chromium {version} headless, "
        f"{os.cpu_count()} CPUs (load {load}), {len(inner)} answers after {args.warmup} warm-up"
    )
    print(f"{'ms':40s} {'median':>8s} {'p95':>8s} {'max':>8s}")
    if mode == "next_word":
        event = f"keystroke every {args.key_delay:g} ms"
    else:
        event = "click" if args.click else "submit key"
    print(f"{'in the page (' + event + ' -> answer in DOM)':40s} {stats(inner)}")
    if outer:
        print(f"{'seen by Playwright (' + event + ' -> found)':40s} {stats(outer)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
