"""Model families (ViT, spiking transformer, LMU), tasks, training and search."""
