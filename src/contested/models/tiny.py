"""Tiny randomly initialised models of real architectures, for tests and smoke runs.

Each model is built from the architecture's real ``transformers`` config class (2 layers, hidden
32) and saved beside a real, working tokenizer trained on a few sentences with the ``tokenizers``
library (WordPiece for encoders, byte-level BPE for decoders). The folder then resolves and loads
like any checkpoint: ``resolve_model(path)`` + ``load_for_classification``.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable
from pathlib import Path

from contested.errors import ContestedError

HIDDEN, LAYERS, HEADS, FFN, MAX_POS = 32, 2, 2, 64, 192

_CORPUS = [
    "A man inspects the uniform of a figure in some East Asian country.",
    "The man is sleeping. A woman is playing a guitar on the stage.",
    "Two dogs are running through a field of grass while children watch.",
    "premise: a person on a horse jumps over a broken down airplane. hypothesis: a person is outdoors.",
    "Some people are eating at a restaurant; nobody is cooking at home.",
    "The kids are smiling and waving at the camera near the beach.",
    "entailment neutral contradiction yes no maybe not the a an of in on at to",
    # Every printable character, alone and inside a word, so WordPiece never needs [UNK] for ASCII.
    " ".join(string.printable.split()),
    " ".join(f"a{c}b" for c in string.ascii_letters + string.digits),
]
_BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_EOS = "<|endoftext|>"


def _wordpiece(vocab_size: int = 400):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(_CORPUS, trainers.WordPieceTrainer(vocab_size=vocab_size,
                                                               special_tokens=_BERT_SPECIALS))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def _bytelevel_bpe(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_CORPUS, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[_EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    # No pad token on purpose, like Llama/Qwen/SmolLM: the loader must set pad = eos.
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=_EOS, bos_token=_EOS)


def _encoder_ids(tok) -> dict:
    return {"pad_token_id": tok.pad_token_id}


def _decoder_ids(tok) -> dict:
    return {"eos_token_id": tok.eos_token_id, "bos_token_id": tok.eos_token_id, "pad_token_id": None,
            "tie_word_embeddings": True}


def _bert(vocab: int, ids: dict):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=MAX_POS,
                      type_vocab_size=2, **ids)


def _roberta(vocab: int, ids: dict):
    from transformers import RobertaConfig

    # RoBERTa positions start at pad_token_id + 1, hence the margin; one token type only.
    return RobertaConfig(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, intermediate_size=FFN,
                         max_position_embeddings=MAX_POS + 2, type_vocab_size=1, **ids)


def _distilbert(vocab: int, ids: dict):
    from transformers import DistilBertConfig

    return DistilBertConfig(vocab_size=vocab, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
                            max_position_embeddings=MAX_POS, **ids)


def _deberta_v2(vocab: int, ids: dict):
    from transformers import DebertaV2Config

    # DeBERTa-v3-base's attention settings (relative positions, p2c|c2p, no absolute positions).
    return DebertaV2Config(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                           num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=MAX_POS,
                           relative_attention=True, position_buckets=32, max_relative_positions=-1,
                           pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True,
                           position_biased_input=False, type_vocab_size=0, pooler_hidden_size=HIDDEN,
                           **ids)


def _mpnet(vocab: int, ids: dict):
    from transformers import MPNetConfig

    return MPNetConfig(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                       num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=MAX_POS + 2,
                       **ids)


def _llama(vocab: int, ids: dict):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                       num_attention_heads=HEADS, num_key_value_heads=1, intermediate_size=FFN,
                       max_position_embeddings=MAX_POS, **ids)


def _qwen2(vocab: int, ids: dict):
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                       num_attention_heads=HEADS, num_key_value_heads=1, intermediate_size=FFN,
                       max_position_embeddings=MAX_POS, **ids)


def _gemma3_text(vocab: int, ids: dict):
    from transformers import Gemma3TextConfig

    # A short sliding window so the tiny model exercises Gemma-3's local/global layer mix.
    return Gemma3TextConfig(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                            num_attention_heads=HEADS, num_key_value_heads=1, head_dim=HIDDEN // HEADS,
                            intermediate_size=FFN, max_position_embeddings=MAX_POS, sliding_window=8,
                            query_pre_attn_scalar=HIDDEN // HEADS, layer_types=["sliding_attention",
                                                                                "full_attention"],
                            **ids)


# model_type -> (config builder, tokenizer builder, special-token ids, inputs the model accepts)
_TINY: dict[str, tuple[Callable, Callable, Callable, list[str] | None]] = {
    "bert": (_bert, _wordpiece, _encoder_ids, None),
    # These models take no (or a single) token type: the tokenizer must not emit token_type_ids.
    "roberta": (_roberta, _wordpiece, _encoder_ids, ["input_ids", "attention_mask"]),
    "distilbert": (_distilbert, _wordpiece, _encoder_ids, ["input_ids", "attention_mask"]),
    "deberta-v2": (_deberta_v2, _wordpiece, _encoder_ids, None),
    "mpnet": (_mpnet, _wordpiece, _encoder_ids, ["input_ids", "attention_mask"]),
    "llama": (_llama, _bytelevel_bpe, _decoder_ids, ["input_ids", "attention_mask"]),
    "qwen2": (_qwen2, _bytelevel_bpe, _decoder_ids, ["input_ids", "attention_mask"]),
    "gemma3_text": (_gemma3_text, _bytelevel_bpe, _decoder_ids, ["input_ids", "attention_mask"]),
}
TINY_MODEL_TYPES: tuple[str, ...] = tuple(_TINY)


def build_tiny_model_dir(model_type: str, path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Save a tiny random ``model_type`` model (2 layers, hidden 32) and its tokenizer at ``path``.

    Parameters
    ----------
    model_type
        One of :data:`TINY_MODEL_TYPES` (``bert``, ``roberta``, ``distilbert``, ``deberta-v2``,
        ``mpnet``, ``llama``, ``qwen2``, ``gemma3_text``).
    path
        Folder to create (its parent is created too).
    seed
        Seeds the random base weights, so the same call gives the same folder contents.

    Returns
    -------
    Path
        ``path``, loadable with ``resolve_model(str(path))``.
    """
    import torch
    from transformers import AutoModel

    if model_type not in _TINY:
        raise ContestedError(f"model_type: no tiny builder for '{model_type}'; choose one of "
                             f"{', '.join(_TINY)}")
    make_config, make_tokenizer, special_ids, input_names = _TINY[model_type]
    tokenizer = make_tokenizer()
    if input_names is not None:
        tokenizer.model_input_names = input_names
    config = make_config(len(tokenizer), special_ids(tokenizer))
    torch.manual_seed(seed)
    model = AutoModel.from_config(config)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
