"""Where an experiment's files live, and the format of the folders that one step writes and the next reads.

Modules (neither imports ``fcodec.infer`` nor ``fcodec.metrics``, so decoding and scoring both ask them):
  experiment      ``<exp>/<model>/decode|score/<judge>/<test set>``, the caches, the decode journal, model folder
                  names (``pretrained``, ``train_<rate>``, ``<model>+posthoc_<preset>``), judge folder names,
                  set-aside folders
  decode_format   the files of one decode directory (read and write)

The recipe's driver (egs/TEMPLATE/codec1/codec.sh) spells the same paths in shell: keep the two in step.
"""
