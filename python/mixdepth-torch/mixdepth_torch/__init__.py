"""mixdepth_torch: the PyTorch twin of mixdepth (model, routers, checkpoints; training)."""
from .config import ConfigError, ResolvedModelConfig, resolve_model_config, routed_tokens
from .model import (
    KVCache,
    Router,
    RouterContext,
    Transformer,
    create_transformer,
    from_weights,
    list_routers,
    model_weight_shapes,
    register_builtin_routers,
    register_router,
    unregister_router,
)

__all__ = [
    "ConfigError", "ResolvedModelConfig", "resolve_model_config", "routed_tokens",
    "KVCache", "Router", "RouterContext", "Transformer", "create_transformer", "from_weights", "list_routers",
    "model_weight_shapes", "register_builtin_routers", "register_router", "unregister_router",
]
# training
