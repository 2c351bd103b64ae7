"""Local fakes of destination APIs for the push tests; they never reach the internet."""
