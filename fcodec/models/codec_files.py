"""FocalCodec's files: building from a config or a checkpoint (``from_config``, ``from_pretrained``) and writing
one (``save_pretrained``, upstream's ``to_config`` / ``to_pretrained``). :mod:`fcodec.models.hub` finds and
writes the files; :class:`fcodec.models.codec.FocalCodec` inherits these methods.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

from fcodec.models import hub, weights

if TYPE_CHECKING:  # the class these methods belong to (it imports this module)
    from fcodec.models.codec import FocalCodec


class CodecFiles:
    """The file methods of :class:`fcodec.models.codec.FocalCodec`."""

    @classmethod
    def from_config(
        cls,
        config: Union[str, os.PathLike],
        pretrained: bool = False,
        overrides: Optional[Mapping[str, Any]] = None,
        **hub_kwargs: Any,
    ) -> "FocalCodec":
        """Build from a config source (see ``fcodec.models.hub``); load its weights when ``pretrained``.

        Parameters
        ----------
        config : str or os.PathLike
            A local folder with ``config.json`` (+ ``model.safetensors`` or ``model.pt``), a local config path
            (``.json`` optional; weights ``<stem>.safetensors``/``.pt`` beside it), a Hugging Face repo id
            ``owner/name``, or ``owner/name/sub_config.json``. Local paths are tried first.
        pretrained : bool, default False
            Also find and strictly load the weights (legacy v0.0.1 key layouts are remapped).
        overrides : Mapping[str, Any], optional
            Config values to replace before building, by dot path, e.g.
            ``{"encoder_config.max_cached_steps": 0}``; missing intermediate dicts are created.
        **hub_kwargs
            Passed to ``huggingface_hub.hf_hub_download`` for remote sources (``revision``, ``cache_dir``,
            ``local_files_only``, ...).

        Returns
        -------
        FocalCodec
            The model (in training mode, on the CPU), with ``model_id`` set to ``os.fspath(config)``.

        Raises
        ------
        CheckpointError
            The source or its weights cannot be found, downloaded or read, the config has unknown keys or is
            invalid for the classes, or the weights do not match the model (missing, unexpected or misshaped
            keys are listed).
        """
        config_path, weights_path = hub.resolve(config, pretrained=pretrained, **hub_kwargs)
        cfg = hub.apply_overrides(hub.read_config(config_path), overrides)
        try:
            model = cls(**cfg)
        except ValueError as exc:
            raise hub.CheckpointError(f"Codec config {config_path} is invalid: {exc}") from exc
        if weights_path is not None:
            weights.load_weights(model, weights.load_state_dict_file(weights_path), source=str(weights_path))
        model.model_id = os.fspath(config)
        return model

    @classmethod
    def from_pretrained(
        cls, config: Union[str, os.PathLike], overrides: Optional[Mapping[str, Any]] = None, **hub_kwargs: Any
    ) -> "FocalCodec":
        """Local folder (config.json + model.safetensors), config path, or Hugging Face repo id.

        ``from_config(config, pretrained=True, ...)``.

        Parameters
        ----------
        config : str or os.PathLike
            The source (see ``from_config``).
        overrides : Mapping[str, Any], optional
            Dot-path config overrides (see ``from_config``).
        **hub_kwargs
            Passed to ``huggingface_hub.hf_hub_download`` for remote sources.

        Returns
        -------
        FocalCodec
            The model with its weights loaded, ``model_id`` set to ``os.fspath(config)``.

        Raises
        ------
        CheckpointError
            As ``from_config``; without a Hub connection or cached copy the message says how to fetch the files
            elsewhere and pass their folder instead.
        """
        return cls.from_config(config, pretrained=True, overrides=overrides, **hub_kwargs)

    def save_pretrained(self, folder: Union[str, os.PathLike]) -> str:
        """Write ``config.json`` (upstream schema) and ``model.safetensors`` into ``folder``, atomically.

        Also links ``config.safetensors`` to ``model.safetensors`` so that upstream's package loads the folder as
        ``FocalCodec.from_pretrained(folder + "/config")``; ours loads it as ``from_pretrained(folder)``.

        Parameters
        ----------
        folder : str or os.PathLike
            Output folder, created (with parents) if missing; existing files of those names are replaced.

        Returns
        -------
        str
            The folder path.
        """
        self._require_float("save")
        return os.fspath(hub.save_pretrained(self, folder, self.config))

    def to_config(self, config: Union[str, os.PathLike], pretrained: bool = False) -> None:
        """Upstream's writer: ``X.json`` (+ ``X.safetensors``). An existing folder gets ``save_pretrained``.

        Parameters
        ----------
        config : str or os.PathLike
            ``X`` or ``X.json``; or an existing folder (then ``config.json``, plus the weights with ``pretrained``
            as ``save_pretrained`` writes them).
        pretrained : bool, default False
            Also write the weights.
        """
        if pretrained:
            self._require_float("save")
        if os.path.isdir(config):
            if pretrained:
                self.save_pretrained(config)
            else:
                hub.write_config(self.config, os.path.join(config, hub.CONFIG_NAME))
            return
        hub.save_upstream_style(self, config, self.config, pretrained)

    def to_pretrained(self, config: Union[str, os.PathLike]) -> None:
        """Upstream's name for ``to_config(config, pretrained=True)``."""
        self.to_config(config, pretrained=True)
