#include "cli/verify.hpp"

int main(int argc, char** argv) { return mailsift::cli::run(argc, argv); }
