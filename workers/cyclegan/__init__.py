"""The cyclegan worker: image + style → image (HF Inference image-to-image, or neural style transfer offline)."""
