"""Gaussian machinery: the closed-form integrals of erf (`integrals`) and ReLU (`relu_integrals`),
the expectation engine by quadrature (`expectations`) and vector math from libmvec (`vecmath`)."""
