"""A deterministic benchmark site: N posts over T tags, M subscribers, all from one seed.

    python benchmarks/corpus.py --posts 10000 --tags 1000 --subscribers 5000 --seed 1 OUT_DIR

writes OUT_DIR/config.toml, OUT_DIR/content/YYYY/*.md and OUT_DIR/subscribers.csv;
with --hugo also OUT_DIR/hugo/, the same posts as a Hugo site that builds the same feeds.
The same arguments always give the same bytes: every random choice comes from a
``random.Random`` seeded with a string (stable across processes, unlike ``hash``),
and nothing iterates over a set. Tags are drawn Zipf-like so a few tags are on
many posts and most are on a handful, as on real blogs; bodies are about 3 KB of
Markdown with the markup and the ``&``, ``<``, ``>`` that feed writers must escape.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# Every generated date lies in [START, END): 15 years that end before the
# benchmarks' fixed --now (2026-11-27T12:00:00+00:00), so every post is live.
START = datetime(2011, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
BODY_BYTES = 3000
ZIPF_S = 1.0
TAGS_PER_POST = (1, 5)
TAGS_PER_SUBSCRIBER = (1, 6)
TIMEZONE = "America/New_York"  # the site's: it decides the dates in permalinks and ids
HUGO_SITE = Path(__file__).resolve().parent / "hugo"  # Hugo's config.toml and layouts/
HUGO_CONTENT = "posts"  # one section, so one permalink rule covers every post

AUTHORS = (
    "Katherine Prizeman",
    "Robert Zuber",
    "Amina Diallo",
    "Jonas Weber",
    "María José Fernández",
    "Chen Wei",
    "Olusegun Adeyemi",
    "Priya Raman",
    "Lukas Novák",
    "Sarah O'Connell",
    "Tomás Ruiz",
    "Ingrid Halvorsen",
    "Yusuf Demir",
    "Élodie Marchand",
    "Kwame Mensah",
    "Hana Sato",
    "Daniel Levi",
    "Fatima Zahra Benali",
    "Mikhail Orlov",
    "Grace Njeri",
)
# The most frequent tags read like the demo site's; the long tail is made-up words.
HEAD_TAGS = (
    "UNPoA",
    "Arms Trade Treaty",
    "Security Council",
    "Small Arms",
    "Peace & Security",
    "MANPADS",
    "Disarmament",
    "Libya",
    "Human Rights",
    "General Assembly",
    "Stockpile Management",
    "Gender & Arms Control",
)
_VOCABULARY = """
    arms treaty council review conference stockpile transfer brokering marking tracing export import
    licence diversion ammunition weapons mission mandate resolution report delegation chair summary
    programme action implementation assistance cooperation capacity border control customs regional
    national plan survey destruction surplus security sector reform civil society survivors victims
    gender women youth violence prevention development goals indicators data monitoring verification
    transparency register reporting obligations parties states members session meeting preparatory
    committee outcome document consensus negotiation text paragraph amendment proposal statement
    panel experts sanctions embargo enforcement investigation evidence findings recommendations
    police military peacekeeping operation demobilisation reintegration community trust dialogue
    funding donors partnership training workshop guidelines standards ISACS IATG manufacture craft
    illicit trafficking smuggling route cross-border flows markets demand supply legislation policy
"""
WORDS = tuple(_VOCABULARY.split())
FIRST_NAMES = ("Ada", "Ben", "Chloé", "Dev", "Eun-ji", "Farid", "Greta", "Hugo", "Ines", "Jae", "Kofi", "Lena")
LAST_NAMES = ("Abara", "Berg", "Costa", "Dubois", "Eriksen", "Fujita", "Gómez", "Haddad", "Ivanova", "Jensen")
# Text that a feed writer must escape, in the shapes it takes in real posts.
SPECIALS = ("R&D", "Q&A session", "fewer than <500 units", "x < y", "a > b", "-> next step", "AT&T", "<5%", ">90%")
SYLLABLES = tuple(a + b for a in "bdfgklmnprstvz" for b in "aeiou")


@dataclass(frozen=True)
class Post:
    """One generated post: its fields, from which both the publisher's and Hugo's files are written."""

    path: str  # relative to content/; the publisher takes the slug from the name after the date
    slug: str
    title: str
    date: datetime
    updated: datetime | None
    author: str
    tags: tuple[str, ...]
    body: str

    @property
    def text(self) -> str:
        return post_text(self.title, self.date, self.author, list(self.tags), self.body, self.updated)


def slug_of(text: str) -> str:
    """The publisher's slug rule for ASCII text, to keep generated names distinct."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def tag_names(tags: int, seed: int) -> list[str]:
    """T distinct tag names (distinct slugs too), most popular first; independent of N."""
    rng = random.Random(f"{seed}-tags")
    names = list(HEAD_TAGS[:tags])
    seen = {slug_of(n) for n in names}
    while len(names) < tags:
        words = [
            "".join(rng.choices(SYLLABLES, k=rng.randint(2, 3))).capitalize() for _ in range(rng.choice((1, 1, 2)))
        ]
        name = " ".join(words)
        if slug_of(name) not in seen:
            seen.add(slug_of(name))
            names.append(name)
    return names


class ZipfPicker:
    """Draws distinct items with probability ∝ 1 / rank**s."""

    def __init__(self, items: list[str], s: float = ZIPF_S) -> None:
        self.items = items
        self.cum = list(itertools.accumulate(1 / rank**s for rank in range(1, len(items) + 1)))

    def pick(self, rng: random.Random, count: int) -> list[str]:
        count = min(count, len(self.items))
        chosen: list[str] = []
        while len(chosen) < count:
            item = rng.choices(self.items, cum_weights=self.cum)[0]
            if item not in chosen:
                chosen.append(item)
        return chosen


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 18))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(SPECIALS))
    return _upper_first(" ".join(words)) + "."


def _link(rng: random.Random) -> str:
    text = " ".join(rng.choices(WORDS, k=rng.randint(1, 3)))
    if rng.random() < 0.5:
        target = f"https://www.un.org/disarmament/{rng.choice(WORDS)}/{rng.randint(1, 999)}/"
    else:  # relative: the publisher makes it absolute against the post's URL
        target = f"/{rng.randint(2012, 2026)}/{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.choice(WORDS)}/"
    return f"[{text}]({target})"


def _paragraph(rng: random.Random) -> str:
    sentences = [_sentence(rng) for _ in range(rng.randint(3, 6))]
    sentences.insert(rng.randrange(len(sentences) + 1), f"See {_link(rng)} for the {rng.choice(WORDS)}.")
    if rng.random() < 0.4:
        sentences.append(f"The **{rng.choice(WORDS)}** and *{rng.choice(WORDS)}* of `{rng.choice(WORDS)}` matter.")
    return " ".join(sentences)


def _list(rng: random.Random) -> str:
    numbered = rng.random() < 0.4
    items = []
    for number in range(1, rng.randint(3, 6) + 1):
        item = _link(rng) if rng.random() < 0.3 else _sentence(rng)
        items.append(f"{number}. {item}" if numbered else f"- {item}")
    return "\n".join(items)


def post_body(rng: random.Random, size: int = BODY_BYTES) -> str:
    """About ``size`` bytes of Markdown: paragraphs, ##/### headings, lists, links, a quote."""
    blocks = [_paragraph(rng)]
    length = len(blocks[0])
    while length < size - 250:  # the last block overshoots by about its mean length
        roll = rng.random()
        if roll < 0.2:
            block = f"{'#' * rng.choice((2, 3))} {_upper_first(' '.join(rng.choices(WORDS, k=rng.randint(2, 5))))}"
        elif roll < 0.45:
            block = _list(rng)
        elif roll < 0.5:
            block = "> " + _sentence(rng)
        else:
            block = _paragraph(rng)
        blocks.append(block)
        length += len(block) + 2
    return "\n\n".join(blocks) + "\n"


def _title(rng: random.Random) -> str:
    words = _upper_first(" ".join(rng.choices(WORDS, k=rng.randint(3, 8))))
    if rng.random() < 0.15:
        words += f" {rng.choice(('&', '<', '>', '& the'))} {rng.choice(WORDS)}"
    return words


def _yaml_string(text: str) -> str:
    """A double-quoted YAML scalar; generated text has no quotes or backslashes to escape."""
    return f'"{text}"'


def post_text(
    title: str,
    when: datetime,
    author: str,
    tags: list[str],
    body: str,
    updated: datetime | None = None,
    slug: str | None = None,
) -> str:
    """A post file: YAML front matter (the common case in real sites) and a Markdown body."""
    lines = [
        "---",
        f"title: {_yaml_string(title)}",
        f"date: {when.isoformat()}",
        *([f"updated: {updated.isoformat()}"] if updated else []),
        f"author: {_yaml_string(author)}",
        f"tags: [{', '.join(_yaml_string(t) for t in tags)}]",
        *([f"slug: {slug}"] if slug else []),
        "---",
        "",
        body,
    ]
    return "\n".join(lines)


def hugo_post_text(post: Post) -> str:
    """The same post as Hugo reads it: slug in the front matter and dates in the site's zone.

    Hugo takes a slug from the front matter, not from a dated file name, and builds
    permalinks from a date's own UTC offset (its timeZone setting only fills in dates
    that have none), so the dates carry the offset the publisher converts them to.
    The revision date stays ``updated``: hugo/config.toml maps it to Hugo's lastmod.
    """
    zone = ZoneInfo(TIMEZONE)
    updated = post.updated.astimezone(zone) if post.updated else None
    return post_text(
        post.title, post.date.astimezone(zone), post.author, list(post.tags), post.body, updated, post.slug
    )


def generate_posts(posts: int, tags: int, seed: int) -> Iterator[Post]:
    """N posts in date order, each at a distinct second, numbered 1..N; lazily, as 100,000 are 350 MB."""
    rng = random.Random(f"{seed}-posts")
    picker = ZipfPicker(tag_names(tags, seed))
    span = int((END - START).total_seconds())
    offsets = sorted(rng.sample(range(span), posts))
    for number, offset in enumerate(offsets, 1):
        when = START + timedelta(seconds=offset)
        title = _title(rng)
        slug = f"{slug_of(title)[:50].rstrip('-')}-{number}"  # the number keeps slugs, ids and URLs distinct
        updated = None
        if rng.random() < 0.1:  # some posts were revised later (never past END: all must be live)
            revised = when + timedelta(seconds=rng.randint(3600, 90 * 86400))
            updated = revised if revised < END else None
        yield Post(
            f"{when:%Y}/{when:%Y-%m-%d}-{slug}.md",
            slug,
            f"{title} ({number})",
            when,
            updated,
            rng.choice(AUTHORS),
            tuple(picker.pick(rng, rng.randint(*TAGS_PER_POST))),
            post_body(rng),
        )


def subscribers_csv(subscribers: int, tags: int, seed: int) -> str:
    """email,name,tags with the tags of each subscriber joined by ';'."""
    rng = random.Random(f"{seed}-subscribers")
    picker = ZipfPicker(tag_names(tags, seed))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["email", "name", "tags"])
    for number in range(1, subscribers + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        chosen = picker.pick(rng, rng.randint(*TAGS_PER_SUBSCRIBER))
        writer.writerow([f"reader{number:06d}@example.net", name, ";".join(chosen)])
    return buffer.getvalue()


def config_toml(posts: int, tags: int, seed: int) -> str:
    """Site-wide and per-tag feeds in Atom and RSS, 20 items each: the configuration the targets name."""
    return f"""\
# Benchmark site generated by benchmarks/corpus.py --posts {posts} --tags {tags} --seed {seed}

[site]
title = "Benchmark Notes"
subtitle = "A generated site of {posts} posts and {tags} tags"
base_url = "https://bench.example.org/"
language = "en"
timezone = "{TIMEZONE}"
permalink = "/{{year}}/{{month}}/{{day}}/{{slug}}/"

[site.author]
name = "Benchmark Desk"

[content]
folder = "content"
categories = "tags"

[feeds]
folder = "feeds"
url_path = "/feeds/"
formats = ["atom", "rss"]
max_items = 20
full_content = true
site = true
tags = true
authors = false

[state]
path = ".publisher/state.db"
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def write_corpus(out: Path, posts: int, tags: int, subscribers: int, seed: int, hugo: bool = False) -> list[str]:
    """Write (or rewrite) a corpus; content/ (and hugo/) is replaced wholesale so no old post survives.

    With ``hugo``, OUT_DIR/hugo/ is a Hugo site of the same posts under content/posts/,
    with the config and layouts from benchmarks/hugo/. Returns the posts' paths relative
    to content/, oldest first.
    """
    out.mkdir(parents=True, exist_ok=True)
    content = out / "content"
    for old in (content, out / "hugo"):
        if old.exists():
            shutil.rmtree(old)
    if hugo:
        shutil.copytree(HUGO_SITE, out / "hugo")
    written = []
    for post in generate_posts(posts, tags, seed):
        _write(content / post.path, post.text)
        if hugo:
            _write(out / "hugo" / "content" / HUGO_CONTENT / post.path, hugo_post_text(post))
        written.append(post.path)
    (out / "config.toml").write_bytes(config_toml(posts, tags, seed).encode("utf-8"))
    (out / "subscribers.csv").write_bytes(subscribers_csv(subscribers, tags, seed).encode("utf-8"))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, required=True, help="number of posts (N)")
    parser.add_argument("--tags", type=int, required=True, help="size of the tag vocabulary (T)")
    parser.add_argument("--subscribers", type=int, default=0, help="number of subscribers (M)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hugo", action="store_true", help="also OUT_DIR/hugo/: the same posts as a Hugo site")
    parser.add_argument("out", type=Path, metavar="OUT_DIR")
    args = parser.parse_args(argv)
    if args.posts < 1 or args.tags < 1 or args.subscribers < 0:
        parser.error("--posts and --tags must be positive, --subscribers not negative")
    write_corpus(args.out, args.posts, args.tags, args.subscribers, args.seed, hugo=args.hugo)
    print(f"wrote {args.posts} posts, {args.tags} tags, {args.subscribers} subscribers to {args.out}")


if __name__ == "__main__":
    main()
