/* stage_builtin: name → function table for builtin stages. */
#include "stage_builtin.h"

#include <string.h>

static const struct {
    const char *name;
    stage_builtin_fn fn;
} builtin_table[] = {
    {"echo", builtin_echo},
    {"demo.generate", builtin_demo_generate},
    {"demo.transform", builtin_demo_transform},
    {"demo.sort", builtin_demo_sort},
    {"demo.summarize", builtin_demo_summarize},
    {"blog.stage", builtin_blog_stage},
};

stage_builtin_fn stage_builtin_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(builtin_table) / sizeof(builtin_table[0]); i++)
        if (strcmp(builtin_table[i].name, name) == 0)
            return builtin_table[i].fn;
    return NULL;
}
