/** apiextensions.k8s.io/v1 types (stub: to be completed). */
export interface CustomResourceDefinitionSpec { [field: string]: unknown }
export interface CustomResourceDefinitionStatus { [field: string]: unknown }
