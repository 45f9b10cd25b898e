/*
 * facet.h - the whole public API of libfacet. Include this one header.
 * Anything not declared under include/facet/ is private and may change at any time.
 */
#ifndef FACET_FACET_H
#define FACET_FACET_H

#include "facet/base.h"
#include "facet/image.h"
#include "facet/nn.h"
#include "facet/face.h"
#include "facet/gallery.h"
#include "facet/keys.h"
#include "facet/track.h"

#endif
