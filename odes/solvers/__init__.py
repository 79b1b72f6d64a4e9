"""The compiled steppers: `dopri5` (adaptive Dormand-Prince 5(4), the default) and `bdf` (stiff,
variable-order backward differentiation); `odes.integrate` drives them."""
