"""The image worker: prompt → image (HF Inference text-to-image, or a labelled placeholder offline)."""
