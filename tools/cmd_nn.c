/* cmd_nn.c - `facet models` and `facet nn ...` (being written: the engine lands next). */
#include "cli.h"

int cmd_models(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "facet models: the inference engine is not built yet\n");
    return 1;
}

int cmd_nn(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "facet nn: the inference engine is not built yet\n");
    return 1;
}
