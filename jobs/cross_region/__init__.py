"""Cross-region checks (跨省核对, CONTRACT.md version 3): requests to other provinces for members and
applicants registered there, their answers read as evidence, and other provinces' requests answered."""
