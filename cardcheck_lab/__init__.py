"""CardCheck Lab: check a model card's numbers against a workspace's notebook outputs."""

__version__ = "0.1.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "cardcheck-lab"}]


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    from .app import CardCheckApp

    return [{"module": "cardcheck_lab", "app": CardCheckApp}]
