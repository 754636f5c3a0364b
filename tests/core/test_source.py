"""Code fingerprints (bench.core.source): blind to comments and docstrings, following imported schemes."""

from __future__ import annotations

import sys

from bench.core.source import code_fingerprint


def test_a_fingerprint_ignores_comments_and_docstrings_and_follows_imported_schemes(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "my_scheme.py"

    def fingerprint(text: str) -> str:
        source.write_text(text)
        sys.modules.pop("my_scheme", None)
        import my_scheme  # noqa: PLC0415 - imported anew from the text just written

        return code_fingerprint(my_scheme.init)

    base = fingerprint('"""A."""\nfrom bench.models.siren import siren\n\ndef init(m):\n    """B."""\n    return siren(m)\n')
    assert fingerprint('"""Z."""\nfrom bench.models.siren import siren\n# c\n\ndef init(m):\n    return siren(m)  # d\n') == base
    assert fingerprint('from bench.models.siren import siren\n\ndef init(m):\n    return siren(m, w0=2.0)\n') != base
    assert fingerprint('from bench.models.gauss import gauss\n\ndef init(m):\n    return gauss(m)\n') != base
    # where an imported name lives is layout, not code: the same name from another module of the package
    typed = fingerprint('from bench.models.ensemble import Member\n\ndef init(m: Member):\n    return {}\n')
    assert fingerprint('from bench.models import Member\n\ndef init(m: Member):\n    return {}\n') == typed
