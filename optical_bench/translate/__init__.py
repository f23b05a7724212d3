"""Translators for the translate-test baseline (and, later, for data augmentation).

Two kinds, one interface (``translate_batch(list[str]) -> list[str]`` and
``describe() -> dict`` for the model card):

* :class:`IBMModel1` -- the offline translator: a word-to-word lexical translation
  model learnt by EM from the *same* bitext the student is distilled on (Brown et
  al., 1993, "The Mathematics of Statistical Machine Translation", Model 1).  Pure
  numpy; no tokenizer beyond a Unicode-aware word regex.  Its :meth:`IBMModel1.lexicon`
  is also the bilingual lexicon used for code-switching augmentation, and
  ``direction="reverse"`` (or :meth:`IBMModel1.inverse`) learns English -> low-resource
  for synthetic data.
* :class:`HFSeq2SeqTranslator` -- the online translator: any Hugging Face seq2seq
  MT model (NLLB, M2M100, mBART-50, opus-mt/Marian) by hub id or local folder.

:func:`make_translator` builds either from a configuration string.

Bitext convention: a pair is ``(low_resource_sentence, english_sentence)``, the
same order as the bitext files; ``direction`` says which side is translated.

Modules: :mod:`~optical_bench.translate.tokenizer` (:func:`tokenize`, :data:`NULL`),
:mod:`~optical_bench.translate.ibm1` (with its EM steps in
:mod:`~optical_bench.translate.ibm1_em` and its file format in
:mod:`~optical_bench.translate.ibm1_format`), :mod:`~optical_bench.translate.seq2seq`
and :mod:`~optical_bench.translate.factory`.
"""

from optical_bench.translate.factory import make_translator
from optical_bench.translate.ibm1 import IBMModel1
from optical_bench.translate.ibm1_format import FORMAT_NAME, FORMAT_VERSION, TranslatorFormatError
from optical_bench.translate.seq2seq import HFSeq2SeqTranslator
from optical_bench.translate.tokenizer import NULL, tokenize, word_regex

__all__ = [
    "NULL",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "TranslatorFormatError",
    "tokenize",
    "word_regex",
    "IBMModel1",
    "HFSeq2SeqTranslator",
    "make_translator",
]
