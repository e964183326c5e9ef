"""The catalogs against what the code and templates say: `pybabel extract` as a translator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from publisher import i18n

from .conftest import REPO


def _messages(path: Path) -> dict[object, object]:
    with path.open("rb") as handle:
        return {m.id: m for m in read_po(handle) if m.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[object, object]:
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", "-o", str(out), "."], cwd=REPO, check=True, capture_output=True
    )
    return _messages(out)


def test_extraction_finds_the_pages_and_the_e_mails(extracted: dict[object, object]) -> None:
    for text in ("Find a tag", "Please confirm your subscription to %(site)s.", "Read the full post", "Saved."):
        assert text in extracted, text


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_string_has_a_translation_in_each_catalog(extracted: dict[object, object], language: str) -> None:
    catalog = _messages(REPO / "locales" / language / "LC_MESSAGES" / "messages.po")
    missing = [message for message in extracted if message not in catalog]
    assert missing == [], f"{language}: run `make messages` and translate: {missing}"
    untranslated = [
        message.id
        for message in catalog.values()
        if message.fuzzy or not all((message.string,) if isinstance(message.string, str) else message.string)
    ]
    assert untranslated == []
    stale = [message for message in catalog if message not in extracted]
    assert stale == [], f"{language}: no longer used: {stale}"


def test_a_catalog_is_used_as_its_language_and_english_is_the_fallback() -> None:
    with i18n.speaking("fr-CA"):
        assert i18n.gettext("Find a tag") == "Trouver une étiquette"
        assert i18n.ngettext("%(num)s post", "%(num)s posts", 2) == "%(num)s articles"
        assert i18n.format_number(12345) == "12\u202f345"
    with i18n.speaking("de"):
        assert i18n.gettext("Find a tag") == "Find a tag" and i18n.format_number(12345) == "12,345"
    assert i18n.negotiate(["de-DE", "fr"], "en") == "fr" and i18n.negotiate(["de"], "fr-FR") == "fr"
    assert i18n.negotiate([], "pt-BR") == "en"
