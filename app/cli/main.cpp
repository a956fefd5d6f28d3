#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
    return ravel::cli::run(argc, argv, std::cout, std::cerr);
}
