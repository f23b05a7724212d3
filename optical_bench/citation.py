"""The method's citation, in its one home: BibTeX (model cards, the mteb Benchmark, the OT loss's
``citation``) and one line (the provenance's ``loss_citation``)."""

OPTICAL_CITATION = """@inproceedings{huang2023optical,
  title = {Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal Transport Distillation},
  author = {Huang, Zhiqi and Yu, Puxuan and Allan, James},
  booktitle = {Proceedings of the Sixteenth ACM International Conference on Web Search and Data Mining (WSDM '23)},
  year = {2023},
  publisher = {Association for Computing Machinery},
  doi = {10.1145/3539597.3570468},
  eprint = {2301.12566},
  archivePrefix = {arXiv},
  primaryClass = {cs.IR},
  url = {https://arxiv.org/abs/2301.12566},
}"""
OPTICAL_REFERENCE = (
    "Huang, Yu & Allan. Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal "
    "Transport Distillation. WSDM 2023. arXiv:2301.12566"
)
