"""YAML read safely: ``yaml.safe_load`` constructs no objects, but its aliases still let a few hundred bytes stand for
billions of nodes (the "billion laughs"): nine anchors of nine aliases each. Constructing them only shares
objects; the code that then walks a config (type checks, copies, dumps) would expand them. :func:`safe_yaml`
measures the expanded size on the parsed node graph (memoised, so the bomb is counted, not expanded) and refuses
a document past :data:`MAX_NODES` before anything is constructed.
"""

from __future__ import annotations

from typing import IO, Any, Dict, Union

import yaml

MAX_NODES = 100_000  # a training config has a few hundred


class YamlTooLargeError(yaml.YAMLError):
    """The document stands for more than MAX_NODES nodes once its aliases are expanded."""


def _expanded_size(node: yaml.Node, memo: Dict[int, int]) -> int:
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a node that refers to itself counts once
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def safe_yaml(stream: Union[str, bytes, IO]) -> Any:
    """``yaml.safe_load(stream)``, refusing (:class:`YamlTooLargeError`) a document whose aliases expand past
    ``MAX_NODES`` nodes."""
    loader = yaml.SafeLoader(stream)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_NODES:
            raise YamlTooLargeError(
                f"the document expands to {size} nodes through its aliases (at most {MAX_NODES}): "
                "a config needs no such size; remove the repeated aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()
