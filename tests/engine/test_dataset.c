/*
 * test_dataset.c — the common instance form: subsets and relabelling, and
 * loading pictures with each policy for missing or corrupt files.
 */
#include <stdlib.h>

#include "check.h"
#include "data/dataset.h"
#include "formats/image.h"
#include "mgv.h"

#define FIX "tests/fixtures/images"

/* n instances of classes i % 3, each with the given picture name */
static void make(mgv_dataset *ds, int n, const char *const *names)
{
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->inst = calloc((size_t)n, sizeof(mgv_instance));
    ds->n_classes = 3;
    ds->class_names = calloc(3, sizeof(char *));
    ds->class_name_tokens = calloc(3, sizeof(int32_t *));
    ds->class_name_len = calloc(3, sizeof(int));
    for (int c = 0; c < 3; c++) {
        char buf[16];
        snprintf(buf, sizeof buf, "c%d", c);
        ds->class_names[c] = strdup(buf);
        ds->class_name_tokens[c] = malloc(sizeof(int32_t));
        ds->class_name_tokens[c][0] = c;
        ds->class_name_len[c] = 1;
    }
    for (int i = 0; i < n; i++) {
        mgv_instance *in = &ds->inst[i];
        in->n_tokens = 2;
        in->tokens = malloc(2 * sizeof(int32_t));
        in->tokens[0] = i;
        in->tokens[1] = -1;
        in->n_spans = 1;
        in->span_end[0] = 1;
        in->label = i % 3;
        in->image = -1;
        in->image_name = names && names[i] ? strdup(names[i]) : NULL;
    }
}

static void test_subset(void)
{
    mgv_dataset ds, sub;
    const char *names[5] = {"a.png", NULL, "c.png", "d.png", NULL};
    make(&ds, 5, names);
    int keep[2] = {2, 0};   /* class 2 becomes 0, class 0 becomes 1 */
    CHECK(mgv_dataset_subset(&ds, 2, keep, &sub) == 0);
    CHECK(sub.n == 3 && sub.n_classes == 2);
    CHECK(strcmp(sub.class_names[0], "c2") == 0 && strcmp(sub.class_names[1], "c0") == 0);
    /* instances 0 (class 0), 2 (class 2), 3 (class 0) in order */
    CHECK(sub.inst[0].label == 1 && sub.inst[1].label == 0 && sub.inst[2].label == 1);
    CHECK(sub.inst[1].tokens[0] == 2 && strcmp(sub.inst[1].image_name, "c.png") == 0);
    int bad[1] = {7};
    mgv_dataset sub2;
    CHECK(mgv_dataset_subset(&ds, 1, bad, &sub2) < 0);
    CHECK_ERROR_HAS("class 7 out of range");
    mgv_dataset_free(&sub);
    mgv_dataset_free(&ds);
}

static void test_load_images_policies(void)
{
    const char *names[4] = {"rgb_4x3.png", "no-such-file.png", NULL, "gray_jpg_djpeg.pgm"};
    for (int policy = 0; policy < 3; policy++) {
        mgv_dataset ds;
        make(&ds, 4, names);
        int64_t missing = -1;
        int rc = mgv_dataset_load_images(&ds, FIX, 8, policy, &missing, NULL, NULL);
        if (policy == MGV_IMAGE_FAIL) {
            CHECK(rc < 0);
            CHECK_ERROR_HAS("no-such-file.png");
        } else {
            CHECK(rc == 0);
            CHECK(missing == 2);
            CHECK(ds.images && ds.images->shape[0] == 1 && ds.images->shape[2] == 8);
            CHECK(ds.inst[0].image == 0);
            if (policy == MGV_IMAGE_SKIP) {
                CHECK(ds.n == 2);   /* the two failures dropped, the picture-less one kept */
                CHECK(ds.inst[1].image == -1 && ds.inst[1].tokens[0] == 2);
            } else {
                CHECK(ds.n == 4);
                CHECK(ds.inst[1].image == -1 && ds.inst[3].image == -1);
            }
            /* values scaled into [-1, 1] */
            for (int64_t i = 0; i < mgv_numel(ds.images); i++) {
                float v = mgv_get_flat(ds.images, i);
                CHECK(v >= -1.0f && v <= 1.0f);
            }
        }
        mgv_dataset_free(&ds);
    }
}

int main(void)
{
    RUN(test_subset);
    RUN(test_load_images_policies);
    return CHECK_DONE();
}
