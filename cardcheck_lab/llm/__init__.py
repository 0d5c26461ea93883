"""Optional LLM extraction of metric values from notebook outputs.

Importing this package does not import the ``openai`` or ``anthropic`` SDKs;
``LLMExtractor`` imports the one its provider needs when it is built.
"""

from .extractor import LLMExtractor, LLMOutcome
from .grounding import merge_evidence
from .prompt import PROMPT_VERSION
from .settings import PROVIDERS, LLMSettings, default_cache_path

__all__ = [
    "PROMPT_VERSION",
    "PROVIDERS",
    "LLMExtractor",
    "LLMOutcome",
    "LLMSettings",
    "default_cache_path",
    "merge_evidence",
]
