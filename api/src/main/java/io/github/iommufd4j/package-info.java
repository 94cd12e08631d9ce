/** The typed iommufd API. */
package io.github.iommufd4j;
