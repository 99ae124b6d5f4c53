"""``optlab gradcheck``: analytic gradients against centred differences, tensor by tensor
(check.py), over the built-in parts or a config's model, loss and penalty (parts.py).
"""
