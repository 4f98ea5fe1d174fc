"""Words of the checker's messages that depend on a name: the article before a kind and the
phrase for a parameter type ("an integer", never "a int")."""

from __future__ import annotations

# spelled with a vowel letter but said with a consonant sound: "a uniform path", "a one-step sampler"
_CONSONANT_SOUNDS = ("uni", "use", "usu", "eu", "one")
TYPE_PHRASES = {"int": "an integer", "float": "a float", "str": "a string", "bool": "true or false"}


def with_article(noun: str) -> str:
    """``noun`` after ``a`` or ``an``: ``an optimizer``, ``an integer``, ``a uniform``, ``a loss``."""
    lowered = noun.lstrip("`").lower()
    vowel = lowered[:1] in ("a", "e", "i", "o", "u") and not lowered.startswith(_CONSONANT_SOUNDS)
    return f"{'an' if vowel else 'a'} {noun}"


def type_phrase(kind: str) -> str:
    """What a value of parameter type ``kind`` is, for "expected ...": ``an integer``."""
    return TYPE_PHRASES.get(kind) or with_article(kind)
