"""The tiny offline model: a 2-layer Llama built from a config, with a byte-level BPE
tokenizer trained on text bundled in the package.

Everything here runs with ``HF_HUB_OFFLINE=1``: nothing is downloaded. Tests and the
demo use it as the base model of every stage (``training.base_model: tiny``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._fs import atomic_output_dir

PAD_TOKEN = "<pad>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
# A minimal chat template so conversational datasets also work; the plain-text
# preference format used by the pipeline does not need it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}{{ '</s>' if message['role'] == 'assistant' else '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
TINY_MARKER = "tiny"


def corpus_text() -> str:
    """The bundled English text the tiny tokenizer is trained on (``train/corpus.txt``)."""
    return resources.files("alignment_ci.train").joinpath("corpus.txt").read_text(encoding="utf-8")


def build_tiny_model(
    path: str | Path,
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 256,
    seed: int = 0,
) -> Path:
    """Build the tiny Llama and its tokenizer into ``path`` (written atomically) and return it.

    The directory holds ``config.json``, ``generation_config.json``, ``model.safetensors``
    and the tokenizer files, so ``AutoModelForCausalLM.from_pretrained(path)`` and
    ``AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)`` both load it.
    Same arguments, same weights and the same tokenizer.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size ({hidden_size}) must be a multiple of num_heads ({num_heads})")
    target = Path(path)

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[PAD_TOKEN, BOS_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_text().splitlines(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=max_positions,
        chat_template=CHAT_TEMPLATE,
    )

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    # fork_rng keeps the caller's global RNG state unchanged by building a model.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    with atomic_output_dir(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target
