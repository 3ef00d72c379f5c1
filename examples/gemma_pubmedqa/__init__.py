"""Fine-tune Gemma with LoRA on PubMedQA (Keras 3 on JAX), run through kinetic.

Run ``python examples/gemma_pubmedqa/finetune.py --help``; see README.md beside this file.
"""
